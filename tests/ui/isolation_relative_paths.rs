use sandbox_test::sandboxed;

#[sandboxed(readonly_root, writable = ["/var/tmp", "target/scratch"])]
fn writable() {}

#[sandboxed(hide = ["run/user"])]
fn hide() {}

#[sandboxed(bind = ["/srv/data:data:ro"])]
fn bind() {}

fn main() {}
