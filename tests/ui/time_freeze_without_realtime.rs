use sandbox_test::sandboxed;

#[sandboxed(time(monotonic = "+1d", freeze))]
fn body() {}

fn main() {}
