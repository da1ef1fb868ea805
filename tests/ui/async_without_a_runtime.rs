use sandbox_test::sandboxed;

#[sandboxed]
async fn t() {}

fn main() {}
