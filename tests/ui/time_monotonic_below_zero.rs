use sandbox_test::sandboxed;

#[sandboxed(time(monotonic = "-1d"))]
fn body() {}

fn main() {}
