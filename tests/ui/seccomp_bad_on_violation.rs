use sandbox_test::sandboxed;

#[sandboxed(seccomp(deny = ["connect"], on_violation = "panic"))]
fn body() {}

fn main() {}
