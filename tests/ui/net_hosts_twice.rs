use sandbox_test::sandboxed;

#[sandboxed(net(hosts = ["app", "db", "app"]))]
fn body() {}

fn main() {}
