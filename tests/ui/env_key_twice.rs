use sandbox_test::sandboxed;

#[sandboxed(env(A = 1, A = 2))]
fn t() {}

fn main() {}
