use sandbox_test::sandboxed;

#[sandboxed]
fn t(n: u32) {
    let _ = n;
}

fn main() {}
