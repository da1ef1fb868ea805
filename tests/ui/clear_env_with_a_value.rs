use sandbox_test::sandboxed;

#[sandboxed(clear_env = true)]
fn t() {}

fn main() {}
