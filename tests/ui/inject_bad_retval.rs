use sandbox_test::sandboxed;

#[sandboxed(inject(syscall = "write", retval = "short"))]
fn body() {}

fn main() {}
