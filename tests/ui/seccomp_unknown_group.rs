use sandbox_test::sandboxed;

#[sandboxed(seccomp(deny = ["connect", "@netwrk-io"]))]
fn body() {}

fn main() {}
