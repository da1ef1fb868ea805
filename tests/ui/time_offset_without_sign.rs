use sandbox_test::sandboxed;

#[sandboxed(time(realtime = "3650d"))]
fn body() {}

fn main() {}
