use sandbox_test::sandboxed;

#[sandboxed]
fn t<T: Default>() {}

fn main() {}
