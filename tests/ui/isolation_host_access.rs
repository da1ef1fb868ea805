use sandbox_test::sandboxed;

#[sandboxed(expose = ["docker", "dockerd"])]
fn unknown_socket() {}

#[sandboxed(readonly_root, writable_host)]
fn contradiction() {}

#[sandboxed(writable_host = true)]
fn flag_with_a_value() {}

fn main() {}
