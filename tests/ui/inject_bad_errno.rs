use sandbox_test::sandboxed;

#[sandboxed(inject(syscall = "write", errno = "ENOSPACE"))]
fn body() {}

fn main() {}
