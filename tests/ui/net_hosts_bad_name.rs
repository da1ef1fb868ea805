use sandbox_test::sandboxed;

#[sandboxed(net(hosts = ["app", "db_1"]))]
fn body() {}

fn main() {}
