use sandbox_test::sandboxed;

#[sandboxed(seccomp = "on")]
fn body() {}

fn main() {}
