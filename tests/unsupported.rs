//! A host that cannot run sandboxes: one clear diagnosis, and `SANDBOX_TEST_UNSUPPORTED`.
//!
//! The host is made unsupported for real: the test binary is re-run inside a user
//! namespace whose `user.max_user_namespaces` is 0, so the sandbox's `unshare` fails there.

use std::process::Command;

use sandbox_test::sandboxed;

#[sandboxed]
#[ignore = "run by the tests below, inside a user namespace that allows no more of them"]
fn probe() {
    println!("the body ran");
}

/// Runs `probe` where no user namespace can be created; returns (success, stdout+stderr).
fn run_probe_without_user_namespaces(policy: Option<&str>) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "sh", "-c"])
        .arg("echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" probe --exact --ignored --nocapture")
        .arg(exe)
        .env_remove("SANDBOX_TEST_UNSUPPORTED");
    if let Some(policy) = policy {
        command.env("SANDBOX_TEST_UNSUPPORTED", policy);
    }
    let output = command.output().expect("util-linux's unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn an_unsupported_host_fails_with_the_cause_and_the_fix() {
    let (success, output) = run_probe_without_user_namespaces(None);
    assert!(!success, "{output}");
    assert!(
        output.contains("this host cannot run this sandboxed test: user namespaces are disabled (user.max_user_namespaces = 0)"),
        "{output}"
    );
    assert!(
        output.contains("sysctl -w user.max_user_namespaces="),
        "{output}"
    );
    assert!(!output.contains("the body ran"), "{output}");
}

#[test]
fn sandbox_test_unsupported_skip_passes_with_a_note() {
    let (success, output) = run_probe_without_user_namespaces(Some("skip"));
    assert!(success, "{output}");
    assert!(
        output.contains("skipped: user namespaces are disabled"),
        "{output}"
    );
    assert!(!output.contains("the body ran"), "{output}");
}

#[test]
fn a_bad_sandbox_test_unsupported_value_is_an_error() {
    let (success, output) = run_probe_without_user_namespaces(Some("sometimes"));
    assert!(!success, "{output}");
    assert!(
        output.contains(
            "SANDBOX_TEST_UNSUPPORTED is `sometimes`; it takes `fail` (the default) or `skip`"
        ),
        "{output}"
    );
}
