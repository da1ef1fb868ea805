use sandbox_test::sandboxed;

#[sandboxed]
fn t() -> u32 {
    1
}

fn main() {}
