//! `#[sandboxed]` together with libtest's and other crates' test attributes.

use rstest::rstest;
use sandbox_test::sandboxed;

#[sandboxed]
#[should_panic(expected = "the answer was 41")]
fn should_panic_matches_the_childs_message() {
    let answer = 41;
    assert!(answer == 42, "the answer was {answer}");
}

#[sandboxed]
fn a_result_test_passes_with_ok() -> Result<(), std::io::Error> {
    std::fs::read_dir("/proc")?;
    Ok(())
}

#[sandboxed]
#[should_panic(expected = "returned Err: Custom { kind: NotFound, error: \"no such thing\" }")]
fn a_result_test_fails_with_the_errs_debug() -> Result<(), std::io::Error> {
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no such thing",
    ))
}

#[test]
#[sandboxed]
fn an_explicit_test_attribute_above_is_kept() {
    assert_eq!(std::process::id(), 2);
}

#[sandboxed]
#[ignore = "ignored tests stay ignored"]
fn ignore_passes_through() {
    panic!("an ignored test must not run");
}

#[rstest]
#[case(1, 1)]
#[case(2, 4)]
#[case(3, 9)]
#[sandboxed]
fn rstest_cases_each_run_in_their_own_sandbox(#[case] n: u32, #[case] square: u32) {
    assert_eq!(n * n, square);
    assert_eq!(std::process::id(), 2);
}

#[tokio::test]
#[sandboxed]
async fn a_tokio_test_runs_its_runtime_inside() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let client =
        tokio::spawn(async move { tokio::net::TcpStream::connect(address).await.unwrap() });
    let (_server_side, _) = listener.accept().await.unwrap();
    client.await.unwrap();
    assert_eq!(std::process::id(), 2);
}

/// `#[test]` or `#[rstest]` above `#[sandboxed]` must not register a test twice.
#[test]
fn every_test_is_registered_once() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--format", "terse", "--include-ignored"])
        .output()
        .unwrap();
    let listing = String::from_utf8(output.stdout).unwrap();
    let mut names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "{listing}");
    for name in [
        "an_explicit_test_attribute_above_is_kept",
        "rstest_cases_each_run_in_their_own_sandbox::case_1",
        "rstest_cases_each_run_in_their_own_sandbox::case_2",
        "rstest_cases_each_run_in_their_own_sandbox::case_3",
        "a_tokio_test_runs_its_runtime_inside",
    ] {
        assert!(names.contains(&name), "{name} missing from\n{listing}");
    }
}
