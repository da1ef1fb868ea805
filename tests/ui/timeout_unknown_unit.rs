use sandbox_test::sandboxed;

#[sandboxed(timeout = "30d")]
fn t() {}

fn main() {}
