//! Durations such as `"30s"`, `"1500ms"`, `"2m"`, `"1h"`.

use std::time::Duration;

/// Parses a duration: a whole number followed by one unit, `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. \"30s\" (units: ms, s, m, h)"))?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "`{text}` does not start with a number: write e.g. \"30s\" (units: ms, s, m, h)"
        ));
    }
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{number}` is too large"))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ms, s, m or h"
            ))
        }
    };
    let millis = value
        .checked_mul(millis_per_unit)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if millis == 0 {
        return Err(format!("`{text}` is zero: a sandbox needs time to run"));
    }
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("s")
            .unwrap_err()
            .contains("does not start with a number"));
        assert!(parse_duration("3d")
            .unwrap_err()
            .contains("unknown unit `d`"));
        assert!(parse_duration("0s").unwrap_err().contains("zero"));
        assert!(parse_duration("99999999999999999999h")
            .unwrap_err()
            .contains("too large"));
    }
}
