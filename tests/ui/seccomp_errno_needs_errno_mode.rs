use sandbox_test::sandboxed;

#[sandboxed(seccomp(deny = ["connect"], errno = "EACCES"))]
fn body() {}

fn main() {}
