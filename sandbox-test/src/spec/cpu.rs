//! CPU time budgets: `"10s"`, `"1500ms"`, `"2m"`, `"1h"`.
//!
//! The kernel enforces CPU time (`RLIMIT_CPU`) in whole seconds, so a budget is rounded
//! up to the next whole second.

use std::fmt;
use std::time::Duration;

/// Why a CPU time did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuTimeError {
    /// Not `<whole number><unit>`.
    Malformed(String),
    /// The unit is not one of `ms`, `s`, `m`, `h`.
    UnknownUnit(String),
    /// Zero CPU time would kill the body before it starts.
    Zero,
    /// Too large to represent.
    Overflow(String),
}

impl fmt::Display for CpuTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuTimeError::Malformed(s) => write!(
                f,
                "`{s}` is not a CPU time; expected a whole number with a unit ms, s, m or h (e.g. \"10s\")"
            ),
            CpuTimeError::UnknownUnit(u) => {
                write!(f, "unknown CPU time unit `{u}`; expected ms, s, m or h")
            }
            CpuTimeError::Zero => f.write_str("CPU time must be greater than zero"),
            CpuTimeError::Overflow(s) => write!(f, "CPU time `{s}` is too large"),
        }
    }
}

impl std::error::Error for CpuTimeError {}

/// Parses a CPU time budget. A unit is required.
pub fn parse_cpu_time(text: &str) -> Result<Duration, CpuTimeError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || unit.is_empty() {
        return Err(CpuTimeError::Malformed(text.to_owned()));
    }
    if unit.starts_with('.') {
        return Err(CpuTimeError::Malformed(text.to_owned()));
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| CpuTimeError::Overflow(text.to_owned()))?;
    let per_unit_ms: u64 = match unit.trim_start() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        other => return Err(CpuTimeError::UnknownUnit(other.to_owned())),
    };
    let millis = number
        .checked_mul(per_unit_ms)
        .ok_or_else(|| CpuTimeError::Overflow(text.to_owned()))?;
    if millis == 0 {
        return Err(CpuTimeError::Zero);
    }
    Ok(Duration::from_millis(millis))
}

/// The whole seconds the kernel will enforce for `budget` (rounded up, at least one).
pub fn whole_seconds(budget: Duration) -> u64 {
    let secs = budget.as_secs();
    let secs = if budget.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    };
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_cpu_time("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_cpu_time("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_cpu_time("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_cpu_time("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_cpu_time("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_cpu_time(" 3 s "), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        assert_eq!(
            parse_cpu_time("10"),
            Err(CpuTimeError::Malformed("10".into()))
        );
        assert_eq!(
            parse_cpu_time("s"),
            Err(CpuTimeError::Malformed("s".into()))
        );
        assert_eq!(
            parse_cpu_time("1.5s"),
            Err(CpuTimeError::Malformed("1.5s".into()))
        );
        assert_eq!(
            parse_cpu_time("10d"),
            Err(CpuTimeError::UnknownUnit("d".into()))
        );
        assert_eq!(parse_cpu_time("0s"), Err(CpuTimeError::Zero));
        assert!(matches!(
            parse_cpu_time("99999999999999999999h"),
            Err(CpuTimeError::Overflow(_))
        ));
    }

    #[test]
    fn rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
    }
}
