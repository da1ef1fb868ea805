//! Where the body starts: the calling test's current directory at run time, unless
//! `workdir` says otherwise.
//!
//! The current directory belongs to the whole test process, and libtest runs the tests of
//! one binary in parallel threads: every test of this file changes it, so each holds
//! `CWD` for its whole run (and puts the directory back). Under nextest each test has a
//! process of its own anyway.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use sandbox_test::{Outcome, Report, Sandbox};

static CWD: Mutex<()> = Mutex::new(());

/// A world-writable directory outside the sandbox's private /tmp.
const OUTSIDE_TMP: &str = "/var/tmp";

/// Moves the test process into `dir` until dropped.
struct InDirectory {
    previous: PathBuf,
    _lock: MutexGuard<'static, ()>,
}

impl InDirectory {
    fn enter(dir: &Path) -> InDirectory {
        let lock = CWD.lock().unwrap_or_else(|e| e.into_inner());
        let previous = std::env::current_dir().unwrap();
        std::env::set_current_dir(dir).unwrap();
        InDirectory {
            previous,
            _lock: lock,
        }
    }
}

impl Drop for InDirectory {
    fn drop(&mut self) {
        std::env::set_current_dir(&self.previous).unwrap();
    }
}

fn prints_its_directory_and_the_marker() {
    let cwd = std::env::current_dir().unwrap();
    let marker = std::fs::read_to_string("marker").unwrap_or_else(|e| format!("no marker: {e}"));
    print!("{}\n{marker}", cwd.display());
}

fn passed(report: &Report) -> String {
    assert!(
        matches!(report.outcome, Outcome::Passed),
        "{}\nstderr: {}",
        report.outcome,
        report.stderr
    );
    report.stdout.text()
}

#[test]
fn the_body_starts_in_the_directory_the_caller_moved_to() {
    // Under /tmp: the sandbox's private /tmp must bring the directory back.
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    std::fs::write(dir_path.join("marker"), "here").unwrap();
    // The directory it started in is read under the lock: another test may hold the
    // process in a directory it deleted.
    let _moved = InDirectory::enter(&dir_path);
    assert_ne!(_moved.previous, dir_path);
    let report = Sandbox::new().run(prints_its_directory_and_the_marker);
    assert_eq!(passed(&report), format!("{}\nhere", dir_path.display()));
}

fn writes_a_file_where_it_starts() {
    std::fs::write("written-inside", "by the body").unwrap();
}

#[test]
fn under_readonly_root_the_callers_directory_stays_writable() {
    // Outside /tmp, so that only readonly_root decides, and writable for any user (CI's
    // unprivileged user can write neither the package nor its target directory).
    let dir = tempfile::tempdir_in(OUTSIDE_TMP).unwrap();
    let dir_path = dir.path().canonicalize().unwrap();

    let _moved = InDirectory::enter(&dir_path);
    let report = Sandbox::new()
        .readonly_root()
        .run(writes_a_file_where_it_starts);
    passed(&report);
    assert_eq!(
        std::fs::read_to_string(dir_path.join("written-inside")).unwrap(),
        "by the body"
    );
}

fn prints_its_directory() {
    print!("{}", std::env::current_dir().unwrap().display());
}

#[test]
fn workdir_overrides_the_callers_directory() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir_in(OUTSIDE_TMP).unwrap();
    let elsewhere = elsewhere.path().canonicalize().unwrap();
    let _moved = InDirectory::enter(dir.path());

    let report = Sandbox::new()
        .workdir(&elsewhere)
        .unwrap()
        .run(prints_its_directory);
    assert_eq!(passed(&report), elsewhere.display().to_string());

    let report = Sandbox::new().workdir_temp().run(prints_its_directory);
    let temp = passed(&report);
    assert!(temp.starts_with("/tmp/sandbox-test-"), "started in {temp}");
}

#[test]
fn a_caller_in_a_deleted_directory_gets_a_setup_failure() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().to_owned();
    let _moved = InDirectory::enter(&dir_path);
    drop(dir);

    let report = Sandbox::new().run(prints_its_directory);
    match report.outcome {
        Outcome::SetupFailed(failure) => {
            assert_eq!(failure.step, "find the test's current directory");
            assert_eq!(failure.errno, Some(libc::ENOENT));
        }
        other => panic!("expected a setup failure, got {other}"),
    }
    assert!(report.stdout.text().is_empty(), "the body ran");
}

#[test]
fn a_caller_in_a_hidden_directory_gets_a_setup_failure_and_workdir_is_the_way_out() {
    let dir = tempfile::tempdir_in(OUTSIDE_TMP).unwrap();
    let _moved = InDirectory::enter(dir.path());

    let report = Sandbox::new()
        .hide(dir.path())
        .unwrap()
        .run(prints_its_directory);
    match report.outcome {
        Outcome::SetupFailed(failure) => {
            assert_eq!(failure.step, "check the working directory");
            assert!(
                failure.detail.contains("`hide` covers"),
                "{}",
                failure.detail
            );
        }
        other => panic!("expected a setup failure, got {other}"),
    }
    assert!(report.stdout.text().is_empty(), "the body ran");

    let report = Sandbox::new()
        .hide(dir.path())
        .unwrap()
        .workdir_temp()
        .run(prints_its_directory);
    assert!(passed(&report).starts_with("/tmp/sandbox-test-"));
}
