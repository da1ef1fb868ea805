use sandbox_test::sandboxed;

#[sandboxed(time(boottime = "+147y"))]
fn body() {}

fn main() {}
