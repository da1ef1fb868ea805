use sandbox_test::sandboxed;

#[sandboxed(inject(syscall = "fsync", when = "2"))]
fn body() {}

fn main() {}
