//! The moved wall clock for programs the body executes, through libfaketime.
//!
//! The interposed functions of [`super::wall_clock`] live in the test binary; a program
//! the body runs (`date`, a server under test) needs libfaketime preloaded instead. The
//! environment computed here is set in the body process, so every program it starts
//! inherits it:
//! - `FAKETIME="+<secs>.<nanos>"` for a ticking clock: libfaketime's relative mode reads
//!   the real clock plus the offset in every process, so a program started later reads
//!   the same moved time as the body (a `@<date>` start-at value would restart from that
//!   date in every new process).
//! - `FAKETIME="<secs>.<nanos>"` with `FAKETIME_FMT=%s` for a frozen clock (an absolute
//!   value stands still; `%s` avoids local-time parsing).
//! - `FAKETIME_DONT_FAKE_MONOTONIC=1`: without it libfaketime moves CLOCK_MONOTONIC and
//!   CLOCK_BOOTTIME as well; the time namespace owns them.
//! - `NO_FAKE_STAT=1`: file times stay real, as they are in the body process.
//! - `LD_PRELOAD`: `libfaketimeMT.so.1` when present (its `time()` is safe in threaded
//!   programs), else `libfaketime.so.1`, ahead of any preload already set.
//!
//! The offset is printed with a decimal point, which libfaketime reads with `atof` when it
//! is loaded, before the program can call `setlocale`.

use std::path::{Path, PathBuf};

use super::wall_clock::{Timespec, Travel};

/// Overrides the search for the library with an explicit path.
pub const LIBFAKETIME_ENV: &str = "SANDBOX_TEST_LIBFAKETIME";

/// The note written to the test's output when libfaketime is missing.
pub fn missing_note(searched: &[PathBuf]) -> String {
    let searched: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
    format!(
        "libfaketime is missing (apt-get install libfaketime): programs \
         the body executes read the real date; only the test process reads the moved one \
         (looked for {})",
        searched.join(", ")
    )
}

/// Where libfaketime may be installed, the multi-threaded variant first.
pub fn candidates() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os(LIBFAKETIME_ENV) {
        return vec![PathBuf::from(path)];
    }
    let triplet = multiarch_triplet();
    let mut dirs = vec![format!("/usr/lib/{triplet}/faketime")];
    dirs.extend(
        [
            "/usr/lib/faketime",
            "/usr/lib64/faketime",
            "/usr/local/lib/faketime",
        ]
        .map(String::from),
    );
    let mut paths = Vec::new();
    for dir in &dirs {
        for name in ["libfaketimeMT.so.1", "libfaketime.so.1"] {
            paths.push(Path::new(dir).join(name));
        }
    }
    paths
}

fn multiarch_triplet() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "x86" => "i386-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => "unknown-linux-gnu",
    }
}

/// The first candidate that exists, or the list searched.
pub fn find_library() -> Result<PathBuf, Vec<PathBuf>> {
    let candidates = candidates();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or(candidates)
}

/// A signed seconds value with nine decimals, as libfaketime's `atof` reads it.
fn decimal(value: Timespec, signed: bool) -> String {
    let negative = value.secs < 0;
    let magnitude = if negative {
        Timespec { secs: 0, nanos: 0 }.minus(value)
    } else {
        value
    };
    let sign = match (negative, signed) {
        (true, _) => "-",
        (false, true) => "+",
        (false, false) => "",
    };
    format!("{sign}{}.{:09}", magnitude.secs, magnitude.nanos)
}

/// The variables that give programs started from this process the moved wall clock.
pub fn environment(
    travel: Travel,
    library: &Path,
    existing_preload: Option<&str>,
) -> Vec<(&'static str, String)> {
    let preload = match existing_preload.filter(|p| !p.trim().is_empty()) {
        Some(existing) => format!("{}:{existing}", library.display()),
        None => library.display().to_string(),
    };
    let mut vars = vec![("LD_PRELOAD", preload)];
    match travel {
        Travel::Shift(delta) => vars.push(("FAKETIME", decimal(delta, true))),
        Travel::Frozen(instant) => {
            vars.push(("FAKETIME", decimal(instant, false)));
            vars.push(("FAKETIME_FMT", "%s".to_owned()));
        }
    }
    vars.push(("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()));
    vars.push(("NO_FAKE_STAT", "1".to_owned()));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn ts(secs: i64, nanos: u32) -> Timespec {
        Timespec { secs, nanos }
    }

    #[test]
    fn values_libfaketime_reads() {
        assert_eq!(decimal(ts(315_360_000, 0), true), "+315360000.000000000");
        assert_eq!(decimal(ts(-5_401, 500_000_000), true), "-5400.500000000");
        assert_eq!(
            decimal(ts(2_147_483_648, 250), false),
            "2147483648.000000250"
        );
        let vars = environment(
            Travel::Frozen(ts(2_147_483_648, 0)),
            Path::new("/lib/f.so"),
            Some("/other.so"),
        );
        assert_eq!(
            vars,
            [
                ("LD_PRELOAD", "/lib/f.so:/other.so".to_owned()),
                ("FAKETIME", "2147483648.000000000".to_owned()),
                ("FAKETIME_FMT", "%s".to_owned()),
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
                ("NO_FAKE_STAT", "1".to_owned()),
            ]
        );
    }

    #[test]
    fn the_note_names_the_package_and_the_paths() {
        let note = missing_note(&[PathBuf::from("/a/libfaketime.so.1")]);
        assert!(note.contains("apt-get install libfaketime"), "{note}");
        assert!(note.contains("/a/libfaketime.so.1"), "{note}");
    }

    /// `date +%s` under the computed environment, when libfaketime is installed here.
    fn date_under(travel: Travel) -> Option<i64> {
        let library = find_library().ok()?;
        let out = Command::new("date")
            .arg("+%s")
            .envs(environment(travel, &library, None))
            .output()
            .expect("run date");
        assert!(out.status.success(), "{out:?}");
        Some(
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap(),
        )
    }

    #[test]
    fn date_reads_the_moved_clock_when_libfaketime_is_installed() {
        let Some(frozen) = date_under(Travel::Frozen(ts(2_147_483_648, 0))) else {
            eprintln!("{}", missing_note(&candidates()));
            assert!(
                std::env::var("SANDBOX_TEST_REQUIRE_FAKETIME").as_deref() != Ok("1"),
                "libfaketime is required here"
            );
            return;
        };
        assert_eq!(frozen, 2_147_483_648);
        let real = super::super::wall_clock::real_now().secs;
        let year = 365 * 86_400;
        let shifted = date_under(Travel::Shift(ts(-10 * year, 0))).unwrap();
        assert!(
            (shifted - (real - 10 * year)).abs() < 60,
            "{shifted} vs {real}"
        );
    }
}
