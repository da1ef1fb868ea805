use sandbox_test::sandboxed;

#[sandboxed(time(speed = "2x"))]
fn body() {}

fn main() {}
