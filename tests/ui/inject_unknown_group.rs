use sandbox_test::sandboxed;

#[sandboxed(inject(syscall = "@disk", errno = "EIO"))]
fn body() {}

fn main() {}
