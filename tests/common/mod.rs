//! Helpers shared by the end-to-end tests.
#![allow(dead_code)] // each test file uses some of the helpers

/// The host's processes whose command line contains `needle`: (pid, command line).
pub fn processes_running(needle: &str) -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some((pid, cmdline))
        })
        .collect()
}

/// Whether `program` is on `PATH`. When it is not, a test that needs it prints that it
/// skipped, unless `SANDBOX_TEST_REQUIRE_PROGRAMS=1` (set in CI, which installs them):
/// then it fails.
pub fn installed(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    if !found {
        assert!(
            std::env::var("SANDBOX_TEST_REQUIRE_PROGRAMS").as_deref() != Ok("1"),
            "{program} is not installed, and SANDBOX_TEST_REQUIRE_PROGRAMS=1 requires it"
        );
        println!("skipped: {program} is not installed (apt-get install {program})");
    }
    found
}

/// Runs `program` to completion and returns its stdout, trimmed; panics if it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(output.status.success(), "{program}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
