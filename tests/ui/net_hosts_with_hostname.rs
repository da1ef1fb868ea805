use sandbox_test::sandboxed;

#[sandboxed(hostname = "box", net(hosts = ["app", "db"]))]
fn body() {}

fn main() {}
