use sandbox_test::sandboxed;

#[sandboxed(inject(syscall = "write", errno = "EIO", when = "3-5"))]
fn body() {}

fn main() {}
