use sandbox_test::sandboxed;

#[sandboxed(net = "bridge")]
fn body() {}

fn main() {}
