//! Coverage across the fork. Every line marked `// counted in the sandbox` runs only inside
//! a sandbox's body. `.ci/coverage` builds this file with `-C instrument-coverage`, runs it,
//! and fails unless `llvm-cov` counts each marked line (and the setup sequence of the
//! sandbox's three processes). Built normally, these are plain sandboxed tests that check
//! their bodies ran where they should.

use sandbox_test::{sandboxed, Outcome, Sandbox};

#[sandboxed]
fn a_plain_body_is_counted() {
    let pid = std::process::id(); // counted in the sandbox
    assert_eq!(pid, 2, "the body is pid 2 of its own pid namespace"); // counted in the sandbox
}

// Where the profile runtime would write its file by itself is read-only, `/tmp` is
// private, and the filter lets through only `getpid` and the harness's own calls.
#[sandboxed(readonly_root, seccomp(allow = ["getpid"]))]
fn a_body_under_readonly_root_and_an_allow_list_is_counted() {
    let pid = std::process::id(); // counted in the sandbox
    assert_eq!(pid, 2); // counted in the sandbox
}

#[sandboxed]
#[should_panic(expected = "a sandboxed panic")]
fn a_panicking_body_is_counted() {
    let reason = "a sandboxed panic"; // counted in the sandbox
    panic!("{reason}"); // counted in the sandbox
}

fn returns_the_answer() -> Result<(), String> {
    let answer = 6 * 7; // counted in the sandbox
    Err(format!("the answer is {answer}")) // counted in the sandbox
}

#[test]
fn a_body_run_through_the_api_is_counted() {
    let report = Sandbox::new().run(returns_the_answer);
    match report.outcome {
        Outcome::ReturnedErr { debug } => assert_eq!(debug, "\"the answer is 42\""),
        other => panic!("expected the body's Err, got {other:?}"),
    }
}

fn on_another_host() {
    let name = nix::unistd::gethostname().unwrap(); // counted in the sandbox
    assert_eq!(name, "db"); // counted in the sandbox
}

// A fn spawned on a host counts as a body does, and so does the body that spawned it.
#[sandboxed(net(hosts = ["app", "db"]))]
fn a_fn_spawned_on_a_host_is_counted() -> Result<(), sandbox_test::net::HostError> {
    let db = sandbox_test::net::host("db")?; // counted in the sandbox
    assert_eq!(db.spawn(on_another_host)?.wait()?, Outcome::Passed); // counted in the sandbox
    Ok(())
}
