use sandbox_test::sandboxed;

#[sandboxed(seccomp(deny = ["connect"], profile = "tests/p.json"))]
fn body() {}

fn main() {}
