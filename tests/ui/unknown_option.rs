use sandbox_test::sandboxed;

#[sandboxed(timout = "30s")]
fn t() {}

fn main() {}
