//! Byte sizes: `"256M"`, `"1G"`, `"64K"`, `"4096"`.

use std::fmt;

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeError {
    /// Nothing but whitespace.
    Empty,
    /// The number part is missing or is not a whole number.
    NotANumber(String),
    /// The suffix is not one of `K`, `M`, `G`, `T` (optionally followed by `B` or `iB`).
    UnknownUnit(String),
    /// The value does not fit in 64 bits.
    Overflow(String),
    /// Zero bytes is not a limit anybody means.
    Zero,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::Empty => f.write_str("empty size; expected e.g. \"256M\""),
            SizeError::NotANumber(s) => write!(
                f,
                "`{s}` is not a size; expected a whole number of bytes with an optional unit K, M, G or T (e.g. \"256M\")"
            ),
            SizeError::UnknownUnit(u) => write!(
                f,
                "unknown size unit `{u}`; expected K, M, G or T (binary multiples, e.g. \"64K\")"
            ),
            SizeError::Overflow(s) => write!(f, "size `{s}` does not fit in 64 bits"),
            SizeError::Zero => f.write_str("size must be greater than zero"),
        }
    }
}

impl std::error::Error for SizeError {}

/// Parses a size in bytes. The unit is a binary multiple (`K` = 1024), case-insensitive,
/// optionally spelled `KB`/`KiB`; no unit means bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(SizeError::NotANumber(text.to_owned()));
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| SizeError::Overflow(text.to_owned()))?;
    let unit_lower = unit.trim_start().to_ascii_lowercase();
    let shift = match unit_lower.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ if unit_lower.starts_with('.') => return Err(SizeError::NotANumber(text.to_owned())),
        _ => return Err(SizeError::UnknownUnit(unit.trim().to_owned())),
    };
    let bytes = number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| SizeError::Overflow(text.to_owned()))?;
    if bytes == 0 {
        return Err(SizeError::Zero);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_binary_multiples() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 * 1024));
        assert_eq!(parse_size("256M"), Ok(256 * 1024 * 1024));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64 MB"), Ok(64 << 20));
        assert_eq!(parse_size("12b"), Ok(12));
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert_eq!(parse_size("M"), Err(SizeError::NotANumber("M".into())));
        assert_eq!(
            parse_size("1.5G"),
            Err(SizeError::NotANumber("1.5G".into()))
        );
        assert_eq!(parse_size("-1M"), Err(SizeError::NotANumber("-1M".into())));
        assert_eq!(parse_size("10X"), Err(SizeError::UnknownUnit("X".into())));
        assert_eq!(parse_size("0"), Err(SizeError::Zero));
        assert_eq!(
            parse_size("99999999999999999999"),
            Err(SizeError::Overflow("99999999999999999999".into()))
        );
        assert_eq!(
            parse_size("17000000T"),
            Err(SizeError::Overflow("17000000T".into()))
        );
        assert!(parse_size("10X")
            .unwrap_err()
            .to_string()
            .contains("unknown size unit"));
    }
}
