use sandbox_test::sandboxed;

#[sandboxed(timeout = 30)]
fn t() {}

fn main() {}
