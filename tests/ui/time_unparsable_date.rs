use sandbox_test::sandboxed;

#[sandboxed(time(realtime = "2027-02-29T12:00:00Z"))]
fn body() {}

fn main() {}
