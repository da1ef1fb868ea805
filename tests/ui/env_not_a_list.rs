use sandbox_test::sandboxed;

#[sandboxed(env = "A=1")]
fn t() {}

fn main() {}
