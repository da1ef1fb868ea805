use sandbox_test::sandboxed;

#[sandboxed(time(realtime = "+3650x"))]
fn body() {}

fn main() {}
