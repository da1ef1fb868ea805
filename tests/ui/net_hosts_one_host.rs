use sandbox_test::sandboxed;

#[sandboxed(net(hosts = ["solo"]))]
fn body() {}

fn main() {}
