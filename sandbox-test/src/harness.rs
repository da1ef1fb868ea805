//! What `#[sandboxed]` expands to calls this: run the body in its sandbox, its output
//! written into the test's output as it arrives, and turn the outcome into libtest's
//! verdict.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::body::TestBody;
use crate::outcome::{Outcome, Report};
use crate::sandbox::Sandbox;

/// Runs a `#[sandboxed]` test: returns if it passed, panics with the report otherwise.
/// `sandbox` is what the attribute's builder calls made; an option the runtime refused
/// fails the test without running the body.
pub fn run_test<R: TestBody>(
    sandbox: Result<Sandbox, Box<dyn std::error::Error>>,
    body: fn() -> R,
) {
    let sandbox = match sandbox {
        Ok(sandbox) => sandbox,
        Err(error) => panic!("the sandbox's options were refused, the body did not run: {error}"),
    };
    let report = sandbox.run_live(body);
    print_notes(&report);
    match &report.outcome {
        Outcome::Passed => {}
        Outcome::Unsupported { reason } => match unsupported_policy() {
            Ok(UnsupportedPolicy::Skip) => println!("skipped: {reason}"),
            Ok(UnsupportedPolicy::Fail) => panic!("{}", report.outcome),
            Err(why) => panic!("{}\n{why}", report.outcome),
        },
        outcome => panic!("{outcome}"),
    }
}

/// After the output (written as it came): what was cut and the notes, through
/// `print!`/`eprint!`, which libtest captures.
fn print_notes(report: &Report) {
    if let Some(note) = report.stdout.truncation_note("stdout") {
        println!("\n{note}");
    }
    if let Some(note) = report.stderr.truncation_note("stderr") {
        eprintln!("\n{note}");
    }
    for note in &report.notes {
        eprintln!("[sandbox-test: {note}]");
    }
}

#[derive(Debug, PartialEq, Eq)]
enum UnsupportedPolicy {
    Fail,
    Skip,
}

/// `SANDBOX_TEST_UNSUPPORTED=fail|skip` (default fail).
fn unsupported_policy() -> Result<UnsupportedPolicy, String> {
    parse_unsupported_policy(std::env::var_os("SANDBOX_TEST_UNSUPPORTED").as_deref())
}

fn parse_unsupported_policy(value: Option<&OsStr>) -> Result<UnsupportedPolicy, String> {
    match value.map(|v| v.to_str()) {
        None => Ok(UnsupportedPolicy::Fail),
        Some(Some("fail")) => Ok(UnsupportedPolicy::Fail),
        Some(Some("skip")) => Ok(UnsupportedPolicy::Skip),
        Some(_) => Err(format!(
            "SANDBOX_TEST_UNSUPPORTED is `{}`; it takes `fail` (the default) or `skip`",
            value.unwrap_or_default().to_string_lossy()
        )),
    }
}

/// A value that `env(KEY = value)` accepts: text, paths, numbers, booleans, characters.
pub trait EnvValue {
    /// The value as the environment variable's text.
    fn to_env_value(&self) -> OsString;
}

macro_rules! env_value_by_display {
    ($($t:ty),*) => {$(
        impl EnvValue for $t {
            fn to_env_value(&self) -> OsString {
                self.to_string().into()
            }
        }
    )*};
}
env_value_by_display!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool, char
);

macro_rules! env_value_by_os_str {
    ($($t:ty),*) => {$(
        impl EnvValue for $t {
            fn to_env_value(&self) -> OsString {
                AsRef::<OsStr>::as_ref(self).to_owned()
            }
        }
    )*};
}
env_value_by_os_str!(str, String, OsStr, OsString, Path, PathBuf);

impl<T: EnvValue + ?Sized> EnvValue for &T {
    fn to_env_value(&self) -> OsString {
        (**self).to_env_value()
    }
}

/// Used by the macro: `env(KEY = expr)` becomes `.env("KEY", env_value(&expr))`.
pub fn env_value<T: EnvValue + ?Sized>(value: &T) -> OsString {
    value.to_env_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_policy_is_fail_skip_or_an_error() {
        assert_eq!(parse_unsupported_policy(None), Ok(UnsupportedPolicy::Fail));
        assert_eq!(
            parse_unsupported_policy(Some(OsStr::new("skip"))),
            Ok(UnsupportedPolicy::Skip)
        );
        assert_eq!(
            parse_unsupported_policy(Some(OsStr::new("fail"))),
            Ok(UnsupportedPolicy::Fail)
        );
        assert!(parse_unsupported_policy(Some(OsStr::new("maybe")))
            .unwrap_err()
            .contains("`fail`"));
    }

    #[test]
    fn env_values_of_every_kind() {
        assert_eq!(env_value(&42u32), OsString::from("42"));
        assert_eq!(env_value("text"), OsString::from("text"));
        assert_eq!(env_value(&Path::new("/a/b")), OsString::from("/a/b"));
        assert_eq!(env_value(&true), OsString::from("true"));
    }
}
