use sandbox_test::sandboxed;

#[sandboxed(memory = "64 megs")]
fn body() {}

fn main() {}
