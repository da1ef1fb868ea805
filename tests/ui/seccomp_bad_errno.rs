use sandbox_test::sandboxed;

#[sandboxed(seccomp(allow = ["read"], on_violation = "errno", errno = "EWHAT"))]
fn body() {}

fn main() {}
