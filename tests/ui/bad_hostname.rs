use sandbox_test::sandboxed;

#[sandboxed(hostname = "two words")]
fn t() {}

fn main() {}
