use sandbox_test::sandboxed;

#[sandboxed(cpu = "10")]
fn cpu_without_unit() {}

#[sandboxed(pids = 0)]
fn no_pids() {}

#[sandboxed(files = "many")]
fn files_not_a_number() {}

#[sandboxed(bind = ["/a:/b:rx"])]
fn unknown_bind_option() {}

fn main() {}
