use sandbox_test::sandboxed;

#[sandboxed(seccomp(deny = ["Connect()"]))]
fn body() {}

fn main() {}
