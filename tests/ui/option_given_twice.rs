use sandbox_test::sandboxed;

#[sandboxed(hostname = "a", hostname = "b")]
fn t() {}

fn main() {}
