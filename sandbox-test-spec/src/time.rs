//! Values of the `time(...)` group: RFC 3339 instants, signed relative offsets and the
//! time-namespace offsets, with their validation.
//!
//! std only: this file is also compiled into the proc-macro crate, so `#[sandboxed]`
//! rejects a bad value at compile time with exactly the message the runtime would give.
//!
//! # Rules
//! - An instant is RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, years 0000–9999,
//!   at most nanosecond precision (`t`, `z` and a space instead of `T` are accepted, as
//!   RFC 3339 allows). A leap second (`:60`) cannot be represented by the system clock and
//!   is refused.
//! - A relative offset has a required sign and one or more `<number><unit>` parts, each
//!   unit at most once: `+3650d`, `-90m`, `+1y2d`. Units: `s`, `m` (minutes), `h`, `d`,
//!   `w`, `y` (= 365 days).
//! - `monotonic` and `boottime` offsets are added by the kernel to clocks that count from
//!   boot. The kernel refuses an offset that takes the clock below zero or past
//!   [`MAX_NAMESPACE_CLOCK_SECS`] (`KTIME_SEC_MAX / 2`, about 146 years). What can be
//!   decided without knowing the uptime of the machine that runs the test is the rule
//!   here: the offset must be zero or positive (a machine may have booted a moment ago, so
//!   any negative offset can take the clock below zero) and at most
//!   [`MAX_NAMESPACE_CLOCK_SECS`]. The setup step checks the sum with the real uptime and
//!   reports the numbers when it is still too large.
//! - `freeze` needs a `realtime` value.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest value the kernel lets a time-namespace clock reach, in seconds:
/// `KTIME_SEC_MAX / 2` (kernel/time/namespace.c), about 146 years.
pub const MAX_NAMESPACE_CLOCK_SECS: u64 = 4_611_686_018;

/// The largest magnitude of a relative `realtime` offset: 10 000 years of 365 days. The
/// instant it leads to is checked against years 0000–9999 when it is resolved.
pub const MAX_REALTIME_OFFSET_SECS: i64 = 10_000 * 365 * SECS_PER_DAY;

const SECS_PER_DAY: i64 = 86_400;

/// The parsed value of `realtime = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Realtime {
    /// An RFC 3339 instant: the wall clock reads it when the body starts.
    At(SystemTime),
    /// A signed offset in seconds from the real wall clock.
    Offset(i64),
}

/// One of the two clocks a time namespace moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceClock {
    /// `CLOCK_MONOTONIC`.
    Monotonic,
    /// `CLOCK_BOOTTIME`.
    Boottime,
}

impl NamespaceClock {
    /// The option name, which is also the clock's name in `/proc/<pid>/timens_offsets`.
    pub fn name(self) -> &'static str {
        match self {
            NamespaceClock::Monotonic => "monotonic",
            NamespaceClock::Boottime => "boottime",
        }
    }

    /// The kernel's name of the clock.
    pub fn clock_name(self) -> &'static str {
        match self {
            NamespaceClock::Monotonic => "CLOCK_MONOTONIC",
            NamespaceClock::Boottime => "CLOCK_BOOTTIME",
        }
    }
}

/// A value of the `time(...)` group that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeSpecError {
    /// Not an RFC 3339 instant.
    Instant {
        /// The text given.
        input: String,
        /// Why it is not an instant.
        reason: String,
    },
    /// Not a signed relative offset.
    Offset {
        /// The text given.
        input: String,
        /// Why it is not an offset.
        reason: String,
    },
    /// A `realtime` value that is neither an instant nor an offset.
    Realtime {
        /// The text given.
        input: String,
    },
    /// A relative offset without its sign.
    OffsetWithoutSign {
        /// The text given.
        input: String,
    },
    /// A relative `realtime` offset beyond 10 000 years (`MAX_REALTIME_OFFSET_SECS`).
    RealtimeOffsetTooLarge {
        /// The text given.
        input: String,
    },
    /// A wall clock that would leave years 0000–9999.
    InstantOutOfRange {
        /// The wall clock it would read, in seconds since the Unix epoch.
        secs: i64,
    },
    /// A negative time-namespace offset.
    NegativeClockOffset {
        /// The clock it was given for.
        clock: NamespaceClock,
        /// The text given.
        input: String,
    },
    /// A time-namespace offset past the kernel's range.
    ClockOffsetTooLarge {
        /// The clock it was given for.
        clock: NamespaceClock,
        /// The text given.
        input: String,
        /// The offset in seconds.
        secs: i64,
    },
    /// `freeze` without `realtime`.
    FreezeWithoutRealtime,
    /// An offset given with a fraction of a second (offsets are whole seconds).
    FractionalOffset {
        /// The text given.
        input: String,
    },
}

impl fmt::Display for TimeSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeSpecError::Instant { input, reason } => write!(
                f,
                "{input:?} is not an RFC 3339 instant: {reason} \
                 (example: \"2038-01-19T03:14:08Z\" or \"2028-02-29T23:59:59.5+02:00\")"
            ),
            TimeSpecError::Offset { input, reason } => write!(
                f,
                "{input:?} is not a relative offset: {reason} (examples: \"+3650d\", \"-90m\", \
                 \"+1y2d\"; units s, m = minutes, h, d, w, y = 365 days)"
            ),
            TimeSpecError::Realtime { input } => write!(
                f,
                "{input:?} is neither an RFC 3339 instant (\"2038-01-19T03:14:08Z\") nor a \
                 signed relative offset (\"+3650d\", \"-90m\")"
            ),
            TimeSpecError::OffsetWithoutSign { input } => write!(
                f,
                "{input:?} looks like a relative offset without its sign: write \"+{input}\" \
                 (later) or \"-{input}\" (earlier)"
            ),
            TimeSpecError::RealtimeOffsetTooLarge { input } => write!(
                f,
                "realtime offset {input:?} is larger than 10000 years; the wall clock must stay \
                 within the years 0000 to 9999"
            ),
            TimeSpecError::InstantOutOfRange { secs } => write!(
                f,
                "the wall clock would read {secs} s from 1970-01-01T00:00:00Z, outside the \
                 years 0000 to 9999"
            ),
            TimeSpecError::NegativeClockOffset { clock, input } => write!(
                f,
                "{} offset {input:?} is negative: {} counts from boot, and on a machine that \
                 booted a moment ago a negative offset takes it below zero, which the kernel \
                 refuses; use a positive offset",
                clock.name(),
                clock.clock_name()
            ),
            TimeSpecError::ClockOffsetTooLarge { clock, input, secs } => write!(
                f,
                "{} offset {input:?} ({secs} s) would take {} past the kernel's limit of \
                 {MAX_NAMESPACE_CLOCK_SECS} s (about 146 years)",
                clock.name(),
                clock.clock_name()
            ),
            TimeSpecError::FractionalOffset { input } => write!(
                f,
                "offset {input} has a fraction of a second; clock offsets are whole seconds"
            ),
            TimeSpecError::FreezeWithoutRealtime => write!(
                f,
                "`freeze` needs a `realtime` instant or offset to stand still at, e.g. \
                 time(realtime = \"2028-02-29T23:59:59Z\", freeze)"
            ),
        }
    }
}

impl std::error::Error for TimeSpecError {}

/// Parses a `realtime` value: an RFC 3339 instant, or a signed relative offset.
pub fn parse_realtime(input: &str) -> Result<Realtime, TimeSpecError> {
    match input.as_bytes().first() {
        Some(b'+' | b'-') => {
            let secs = parse_offset(input)?;
            if secs.unsigned_abs() > MAX_REALTIME_OFFSET_SECS as u64 {
                return Err(TimeSpecError::RealtimeOffsetTooLarge {
                    input: input.to_owned(),
                });
            }
            Ok(Realtime::Offset(secs))
        }
        Some(b'0'..=b'9') => parse_instant(input).map(Realtime::At).map_err(|error| {
            if parse_offset(&format!("+{input}")).is_ok() {
                TimeSpecError::OffsetWithoutSign {
                    input: input.to_owned(),
                }
            } else {
                error
            }
        }),
        _ => Err(TimeSpecError::Realtime {
            input: input.to_owned(),
        }),
    }
}

/// Parses a `monotonic` or `boottime` offset and applies the compile-time rule of the
/// module documentation.
pub fn parse_namespace_offset(
    clock: NamespaceClock,
    input: &str,
) -> Result<Duration, TimeSpecError> {
    let secs = parse_offset(input)?;
    if secs < 0 {
        return Err(TimeSpecError::NegativeClockOffset {
            clock,
            input: input.to_owned(),
        });
    }
    if secs as u64 > MAX_NAMESPACE_CLOCK_SECS {
        return Err(TimeSpecError::ClockOffsetTooLarge {
            clock,
            input: input.to_owned(),
            secs,
        });
    }
    Ok(Duration::from_secs(secs as u64))
}

/// Parses a signed relative offset (`+3650d`, `-90m`, `+1y2d`) into seconds.
pub fn parse_offset(input: &str) -> Result<i64, TimeSpecError> {
    let fail = |reason: String| TimeSpecError::Offset {
        input: input.to_owned(),
        reason,
    };
    let bytes = input.as_bytes();
    let negative = match bytes.first() {
        Some(b'+') => false,
        Some(b'-') => true,
        Some(_) => {
            return Err(fail(
                "it must start with a sign, + (later) or - (earlier)".into(),
            ))
        }
        None => return Err(fail("it is empty".into())),
    };
    if bytes.len() == 1 {
        return Err(fail("a number and a unit must follow the sign".into()));
    }
    let mut total: i64 = 0;
    let mut seen = String::new();
    let mut pos = 1;
    while pos < bytes.len() {
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return Err(fail(format!("expected a number at {:?}", &input[start..])));
        }
        let digits = &input[start..pos];
        let number: i64 = digits
            .parse()
            .map_err(|_| fail(format!("{digits} is too large")))?;
        let Some(&unit) = bytes.get(pos) else {
            return Err(fail(format!("{digits} has no unit")));
        };
        let unit_secs = match unit {
            b's' => 1,
            b'm' => 60,
            b'h' => 3_600,
            b'd' => SECS_PER_DAY,
            b'w' => 7 * SECS_PER_DAY,
            b'y' => 365 * SECS_PER_DAY,
            b'M' => {
                return Err(fail(
                    "unit M: months have no fixed length; use d, or an RFC 3339 instant".into(),
                ))
            }
            _ => {
                let unit = input[pos..].chars().next().unwrap_or_default();
                return Err(fail(format!("unknown unit {unit:?} after {digits}")));
            }
        };
        let unit = unit as char;
        if seen.contains(unit) {
            return Err(fail(format!("unit {unit} appears twice")));
        }
        seen.push(unit);
        pos += 1;
        total = number
            .checked_mul(unit_secs)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| fail("it is too large".into()))?;
    }
    Ok(if negative { -total } else { total })
}

/// Parses an RFC 3339 instant.
pub fn parse_instant(input: &str) -> Result<SystemTime, TimeSpecError> {
    let secs_nanos = parse_instant_parts(input).map_err(|reason| TimeSpecError::Instant {
        input: input.to_owned(),
        reason,
    })?;
    Ok(system_time_from_unix(secs_nanos.0, secs_nanos.1))
}

/// Seconds and nanoseconds since 1970-01-01T00:00:00Z of an RFC 3339 instant, or why not.
fn parse_instant_parts(input: &str) -> Result<(i64, u32), String> {
    let mut c = Cursor {
        bytes: input.as_bytes(),
        pos: 0,
    };
    let year = c.number(4, "a 4-digit year")?;
    c.literal(b'-', "'-' after the year")?;
    let month = c.number(2, "a 2-digit month")?;
    c.literal(b'-', "'-' after the month")?;
    let day = c.number(2, "a 2-digit day")?;
    match c.peek() {
        Some(b'T' | b't' | b' ') => c.pos += 1,
        None => return Err("the time of day is missing (add e.g. T00:00:00Z)".into()),
        Some(_) => return Err(c.unexpected("'T' between the date and the time")),
    }
    let hour = c.number(2, "a 2-digit hour")?;
    c.literal(b':', "':' after the hour")?;
    let minute = c.number(2, "2-digit minutes")?;
    c.literal(b':', "':' after the minutes (seconds are required)")?;
    let second = c.number(2, "2-digit seconds")?;
    let mut nanos = 0u32;
    if c.peek() == Some(b'.') {
        c.pos += 1;
        let start = c.pos;
        while matches!(c.peek(), Some(b'0'..=b'9')) {
            c.pos += 1;
        }
        let digits = c.pos - start;
        if digits == 0 {
            return Err(c.unexpected("digits after the decimal point"));
        }
        if digits > 9 {
            return Err("more than 9 fraction digits: the clock has nanosecond precision".into());
        }
        let fraction: u32 = input[start..c.pos].parse().map_err(|_| "bad fraction")?;
        nanos = fraction * 10u32.pow(9 - digits as u32);
    }
    let offset_secs: i64 = match c.peek() {
        Some(b'Z' | b'z') => {
            c.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let hours = c.number(2, "2-digit offset hours")?;
            c.literal(b':', "':' in the UTC offset (+HH:MM)")?;
            let minutes = c.number(2, "2-digit offset minutes")?;
            if hours > 23 || minutes > 59 {
                return Err(format!(
                    "UTC offset {hours:02}:{minutes:02} is out of range"
                ));
            }
            let secs = hours * 3_600 + minutes * 60;
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        None => return Err("the UTC offset is missing (add Z for UTC, or e.g. +02:00)".into()),
        Some(_) => return Err(c.unexpected("'Z' or a UTC offset like +02:00")),
    };
    if c.pos != input.len() {
        return Err(format!(
            "unexpected {:?} after the instant",
            &input[c.pos..]
        ));
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} does not exist"));
    }
    let last_day = days_in_month(year, month as u32);
    if day < 1 || day > i64::from(last_day) {
        let why = if month == 2 && day == 29 {
            format!("{year:04} is not a leap year, February {year:04} has 28 days")
        } else {
            format!("month {month:02} of {year:04} has {last_day} days")
        };
        return Err(format!("day {day:02} does not exist: {why}"));
    }
    if hour > 23 {
        return Err(format!("hour {hour:02} does not exist"));
    }
    if minute > 59 {
        return Err(format!("minute {minute:02} does not exist"));
    }
    if second == 60 {
        return Err("leap second :60 cannot be shown by the system clock; use :59".into());
    }
    if second > 59 {
        return Err(format!("second {second:02} does not exist"));
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * SECS_PER_DAY + hour * 3_600 + minute * 60 + second - offset_secs;
    Ok((secs, nanos))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn unexpected(&self, expected: &str) -> String {
        match self.peek() {
            None => format!("it ends where {expected} should follow"),
            Some(_) => {
                let rest = String::from_utf8_lossy(&self.bytes[self.pos..]);
                let found = rest.chars().next().unwrap_or_default();
                format!("expected {expected} at byte {}, found {found:?}", self.pos)
            }
        }
    }

    fn literal(&mut self, byte: u8, expected: &str) -> Result<(), String> {
        if self.peek() != Some(byte) {
            return Err(self.unexpected(expected));
        }
        self.pos += 1;
        Ok(())
    }

    /// Exactly `width` ASCII digits.
    fn number(&mut self, width: usize, expected: &str) -> Result<i64, String> {
        let mut value = 0i64;
        for _ in 0..width {
            match self.peek() {
                Some(digit @ b'0'..=b'9') => {
                    value = value * 10 + i64::from(digit - b'0');
                    self.pos += 1;
                }
                _ => return Err(self.unexpected(expected)),
            }
        }
        Ok(value)
    }
}

/// Whether `year` of the proleptic Gregorian calendar is a leap year.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (negative before it).
///
/// The era-based algorithm: a 400-year era has a fixed 146 097 days, and counting years
/// from March puts the leap day at the end of the year.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` that is `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Seconds (floored) and nanoseconds of `time` relative to 1970-01-01T00:00:00Z.
pub fn unix_parts(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            let (secs, nanos) = (before.as_secs() as i64, before.subsec_nanos());
            if nanos == 0 {
                (-secs, 0)
            } else {
                (-secs - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

/// The inverse of [`unix_parts`]; `nanos` must be below one second.
pub fn system_time_from_unix(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

/// Checks that `secs` since 1970 lies within the years 0000–9999.
pub fn check_instant_range(secs: i64) -> Result<(), TimeSpecError> {
    let first = days_from_civil(0, 1, 1) * SECS_PER_DAY;
    let end = days_from_civil(10_000, 1, 1) * SECS_PER_DAY;
    if (first..end).contains(&secs) {
        Ok(())
    } else {
        Err(TimeSpecError::InstantOutOfRange { secs })
    }
}

/// RFC 3339 text of `time` in UTC, with the fraction only when there is one.
pub fn format_rfc3339(time: SystemTime) -> String {
    let (secs, nanos) = unix_parts(time);
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let second_of_day = secs.rem_euclid(SECS_PER_DAY);
    let (hour, minute, second) = (
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60,
    );
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(input: &str) -> (i64, u32) {
        unix_parts(parse_instant(input).unwrap())
    }

    fn instant_error(input: &str) -> String {
        parse_instant(input).unwrap_err().to_string()
    }

    fn offset_error(input: &str) -> String {
        parse_offset(input).unwrap_err().to_string()
    }

    #[test]
    fn epoch_and_2038() {
        assert_eq!(secs("1970-01-01T00:00:00Z"), (0, 0));
        assert_eq!(secs("2038-01-19T03:14:07Z"), (i64::from(i32::MAX), 0));
        assert_eq!(secs("2038-01-19T03:14:08Z"), (i64::from(i32::MAX) + 1, 0));
        assert_eq!(secs("1969-12-31T23:59:59Z"), (-1, 0));
        assert_eq!(secs("1901-12-13T20:45:52Z"), (i64::from(i32::MIN), 0));
    }

    #[test]
    fn offsets_fractions_and_separators() {
        assert_eq!(secs("2038-01-19T05:14:08+02:00"), (2_147_483_648, 0));
        assert_eq!(secs("2038-01-18T22:44:08-04:30"), (2_147_483_648, 0));
        assert_eq!(secs("2038-01-19t03:14:08z"), (2_147_483_648, 0));
        assert_eq!(secs("2038-01-19 03:14:08Z"), (2_147_483_648, 0));
        assert_eq!(secs("2038-01-19T03:14:08.5Z"), (2_147_483_648, 500_000_000));
        assert_eq!(secs("2038-01-19T03:14:08.000000001Z"), (2_147_483_648, 1));
        assert_eq!(secs("1969-12-31T23:59:59.25Z"), (-1, 250_000_000));
        assert_eq!(
            parse_instant("1969-12-31T23:59:59.25Z").unwrap(),
            UNIX_EPOCH - Duration::from_millis(750)
        );
    }

    #[test]
    fn leap_years() {
        assert_eq!(
            secs("2028-02-29T23:59:59Z").0 + 1,
            secs("2028-03-01T00:00:00Z").0
        );
        assert_eq!(secs("2000-02-29T00:00:00Z").0, 951_782_400);
        assert!(is_leap_year(2000) && is_leap_year(2028) && is_leap_year(2400));
        assert!(!is_leap_year(1900) && !is_leap_year(2100) && !is_leap_year(2027));
        let message = instant_error("2027-02-29T00:00:00Z");
        assert!(
            message.contains("2027 is not a leap year, February 2027 has 28 days"),
            "{message}"
        );
        let message = instant_error("1900-02-29T00:00:00Z");
        assert!(message.contains("1900 is not a leap year"), "{message}");
        assert!(instant_error("2028-02-30T00:00:00Z").contains("month 02 of 2028 has 29 days"));
        assert!(instant_error("2028-04-31T00:00:00Z").contains("month 04 of 2028 has 30 days"));
    }

    #[test]
    fn civil_round_trip_over_eight_centuries() {
        let mut expected_days = days_from_civil(1600, 1, 1);
        for year in 1600..=2400 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), expected_days);
                    assert_eq!(civil_from_days(expected_days), (year, month, day));
                    expected_days += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn formatting_round_trips() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2038-01-19T03:14:08Z",
            "2028-02-29T23:59:59.5Z",
            "1969-12-31T23:59:59.000000001Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ] {
            assert_eq!(format_rfc3339(parse_instant(text).unwrap()), text);
        }
    }

    #[test]
    fn bad_instants_say_what_is_wrong() {
        let cases = [
            ("", "ends where a 4-digit year should follow"),
            (
                "38-01-19T03:14:08Z",
                "expected a 4-digit year at byte 2, found '-'",
            ),
            (
                "2038/01/19T03:14:08Z",
                "expected '-' after the year at byte 4, found '/'",
            ),
            ("2038-01-19", "the time of day is missing"),
            (
                "2038-01-19T03:14Z",
                "':' after the minutes (seconds are required)",
            ),
            ("2038-01-19T03:14:08", "the UTC offset is missing"),
            ("2038-01-19T03:14:08+0200", "':' in the UTC offset"),
            (
                "2038-01-19T03:14:08+24:00",
                "UTC offset 24:00 is out of range",
            ),
            ("2038-01-19T03:14:08.Z", "digits after the decimal point"),
            (
                "2038-01-19T03:14:08.1234567891Z",
                "more than 9 fraction digits",
            ),
            (
                "2038-01-19T03:14:08Z ",
                "unexpected \" \" after the instant",
            ),
            ("2038-13-01T00:00:00Z", "month 13 does not exist"),
            ("2038-00-01T00:00:00Z", "month 00 does not exist"),
            ("2038-01-00T00:00:00Z", "day 00 does not exist"),
            ("2038-01-19T24:00:00Z", "hour 24 does not exist"),
            ("2038-01-19T23:60:00Z", "minute 60 does not exist"),
            ("2016-12-31T23:59:60Z", "leap second"),
            ("2038-01-19T03:14:61Z", "second 61 does not exist"),
            ("2038-01-19X03:14:08Z", "'T' between the date and the time"),
        ];
        for (input, expected) in cases {
            let message = instant_error(input);
            assert!(message.contains(expected), "{input:?}: {message}");
            assert!(message.contains("example"), "{input:?}: {message}");
        }
    }

    #[test]
    fn relative_offsets() {
        assert_eq!(parse_offset("+3650d"), Ok(3650 * 86_400));
        assert_eq!(parse_offset("-90m"), Ok(-5_400));
        assert_eq!(parse_offset("+1y2d"), Ok(367 * 86_400));
        assert_eq!(parse_offset("+49d17h"), Ok(49 * 86_400 + 17 * 3_600));
        assert_eq!(parse_offset("+2w"), Ok(14 * 86_400));
        assert_eq!(parse_offset("+30s"), Ok(30));
        assert_eq!(parse_offset("-0s"), Ok(0));
        assert_eq!(parse_offset("+1h1m1s"), Ok(3_661));
    }

    #[test]
    fn bad_offsets_say_what_is_wrong() {
        let cases = [
            ("", "it is empty"),
            ("3650d", "it must start with a sign"),
            ("+", "a number and a unit must follow the sign"),
            ("+10", "10 has no unit"),
            ("+10x", "unknown unit 'x' after 10"),
            ("+1M", "months have no fixed length"),
            ("+d", "expected a number at \"d\""),
            ("+1d2d", "unit d appears twice"),
            ("+1d ", "expected a number at \" \""),
            (
                "+99999999999999999999s",
                "99999999999999999999 is too large",
            ),
            ("+9999999999999999y", "it is too large"),
        ];
        for (input, expected) in cases {
            let message = offset_error(input);
            assert!(message.contains(expected), "{input:?}: {message}");
            assert!(message.contains("units s, m = minutes"), "{message}");
        }
    }

    #[test]
    fn realtime_is_an_instant_or_an_offset() {
        assert_eq!(
            parse_realtime("2038-01-19T03:14:08Z"),
            Ok(Realtime::At(
                UNIX_EPOCH + Duration::from_secs(2_147_483_648)
            ))
        );
        assert_eq!(parse_realtime("+400d"), Ok(Realtime::Offset(400 * 86_400)));
        let message = parse_realtime("3650d").unwrap_err().to_string();
        assert!(
            message.contains("without its sign: write \"+3650d\""),
            "{message}"
        );
        let message = parse_realtime("2038-02-30T00:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("month 02 of 2038 has 28 days"),
            "{message}"
        );
        assert!(parse_realtime("tomorrow")
            .unwrap_err()
            .to_string()
            .contains("neither an RFC 3339 instant"));
        assert!(matches!(
            parse_realtime("+10001y"),
            Err(TimeSpecError::RealtimeOffsetTooLarge { .. })
        ));
        assert_eq!(
            parse_realtime("-10000y"),
            Ok(Realtime::Offset(-MAX_REALTIME_OFFSET_SECS))
        );
        assert!(check_instant_range(-62_167_219_200).is_ok());
        assert!(check_instant_range(-62_167_219_201).is_err());
        assert!(check_instant_range(253_402_300_799).is_ok());
        assert!(check_instant_range(253_402_300_800).is_err());
    }

    #[test]
    fn namespace_offsets_stay_in_the_kernels_range() {
        assert_eq!(
            parse_namespace_offset(NamespaceClock::Monotonic, "+49d17h"),
            Ok(Duration::from_secs(49 * 86_400 + 17 * 3_600))
        );
        assert_eq!(
            parse_namespace_offset(NamespaceClock::Boottime, "+497d"),
            Ok(Duration::from_secs(497 * 86_400))
        );
        assert_eq!(
            parse_namespace_offset(NamespaceClock::Boottime, "+4611686018s"),
            Ok(Duration::from_secs(MAX_NAMESPACE_CLOCK_SECS))
        );
        let message = parse_namespace_offset(NamespaceClock::Boottime, "+4611686019s")
            .unwrap_err()
            .to_string();
        assert!(message.contains("past the kernel's limit"), "{message}");
        let message = parse_namespace_offset(NamespaceClock::Monotonic, "+147y")
            .unwrap_err()
            .to_string();
        assert!(message.contains("monotonic offset \"+147y\""), "{message}");
        let message = parse_namespace_offset(NamespaceClock::Monotonic, "-1s")
            .unwrap_err()
            .to_string();
        assert!(message.contains("below zero"), "{message}");
        assert!(parse_namespace_offset(NamespaceClock::Monotonic, "2038-01-19T03:14:08Z").is_err());
    }
}
