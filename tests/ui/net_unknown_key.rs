use sandbox_test::sandboxed;

#[sandboxed(net(nodes = ["app", "db"]))]
fn body() {}

fn main() {}
