use sandbox_test::sandboxed;

#[sandboxed(inject(syscall = "exit_group", errno = "EIO"))]
fn body() {}

fn main() {}
