use sandbox_test::sandboxed;

#[sandboxed(inject(syscall = "write", errno = "EIO", delay = "300ms"))]
fn body() {}

fn main() {}
