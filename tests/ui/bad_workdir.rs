use sandbox_test::sandboxed;

#[sandboxed(workdir = "relative/dir")]
fn t() {}

fn main() {}
