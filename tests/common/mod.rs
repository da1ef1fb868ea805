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

/// The first `program` on `PATH` that is a native executable, not a script: a version
/// manager's shim (pyenv's `python3` is a bash script) makes calls of its own before the
/// real program starts, and a test that counts a program's system calls must not see
/// them. Reads files only, so a sandboxed body can call it.
pub fn native_program(program: &str) -> std::path::PathBuf {
    use std::io::Read;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            let mut magic = [0u8; 4];
            std::fs::File::open(candidate)
                .and_then(|mut file| file.read_exact(&mut magic))
                .is_ok_and(|()| magic == *b"\x7fELF")
        })
        .unwrap_or_else(|| panic!("no native {program} on PATH (apt-get install {program})"))
}
