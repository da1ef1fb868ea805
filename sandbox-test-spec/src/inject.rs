//! Fault-injection option values: `when` in strace's syntax, and the fault keys.
//!
//! The macro checks `inject(...)` with these, so a malformed `when` or a syscall that is
//! never injected is a compile error from the parser the runtime uses.

use std::fmt;

/// Which of the matching calls a rule hits, counted from 1 across every process of the
/// sandbox: strace's `when=first[..last][+[step]]`.
///
/// `"3"` only the 3rd, `"3+"` the 3rd and every later one, `"3+2"` the 3rd, 5th, 7th…,
/// `"2..4"` the 2nd to the 4th, `"2..8+2"` the 2nd, 4th, 6th and 8th. The default is every
/// call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct When {
    first: u64,
    last: Option<u64>,
    step: u64,
}

impl Default for When {
    fn default() -> Self {
        Self::every_call()
    }
}

impl When {
    /// Every matching call.
    pub const fn every_call() -> Self {
        Self {
            first: 1,
            last: None,
            step: 1,
        }
    }

    /// Only the `n`th matching call (`"n"`). `n` starts at 1; 0 is taken as 1.
    pub const fn nth(n: u64) -> Self {
        let n = if n == 0 { 1 } else { n };
        Self {
            first: n,
            last: Some(n),
            step: 1,
        }
    }

    /// The `n`th matching call and every later one (`"n+"`).
    pub const fn from_nth(n: u64) -> Self {
        Self::nth(n).open_ended()
    }

    /// The `first`th to the `last`th matching call, both included (`"first..last"`).
    pub const fn range(first: u64, last: u64) -> Self {
        let first = if first == 0 { 1 } else { first };
        let last = if last < first { first } else { last };
        Self {
            first,
            last: Some(last),
            step: 1,
        }
    }

    /// Only every `step`th call from the first one on (`"3+2"`: 3, 5, 7…). 0 is taken as 1.
    pub const fn step(mut self, step: u64) -> Self {
        self.step = if step == 0 { 1 } else { step };
        self
    }

    /// No last call: on to the end of the run (the `+` of `"3+"`).
    pub const fn open_ended(mut self) -> Self {
        self.last = None;
        self
    }

    /// Rebuilds a `When` from [`parts`](When::parts).
    pub fn from_parts(first: u64, last: Option<u64>, step: u64) -> Self {
        let when = match last {
            Some(last) => Self::range(first, last),
            None => Self::from_nth(first),
        };
        when.step(step)
    }

    /// Whether the `n`th matching call (from 1) is hit.
    pub fn hits(&self, n: u64) -> bool {
        n >= self.first
            && self.last.is_none_or(|last| n <= last)
            && (n - self.first).is_multiple_of(self.step)
    }

    /// The first call hit, the last (`None`: no end) and the step.
    pub fn parts(&self) -> (u64, Option<u64>, u64) {
        (self.first, self.last, self.step)
    }

    /// Parses strace's syntax: `first[..last][+[step]]`, numbers from 1.
    pub fn parse(text: &str) -> Result<Self, InjectSpecError> {
        let bad = |why: &str| InjectSpecError::When(text.to_owned(), why.to_owned());
        let number = |s: &str, what: &str| -> Result<u64, InjectSpecError> {
            let n: u64 = s
                .parse()
                .map_err(|_| bad(&format!("{what} `{s}` is not a whole number")))?;
            if n == 0 {
                return Err(bad(&format!("{what} counts from 1")));
            }
            Ok(n)
        };
        let (range, plus) = match text.split_once('+') {
            Some((range, step)) => (range, Some(step)),
            None => (text, None),
        };
        let (first, last) = match range.split_once("..") {
            Some((first, last)) => (
                number(first, "the first call")?,
                Some(number(last, "the last call")?),
            ),
            None => {
                let n = number(range, "the call")?;
                (n, if plus.is_some() { None } else { Some(n) })
            }
        };
        if let Some(last) = last {
            if last < first {
                return Err(bad("the last call comes before the first"));
            }
        }
        let step = match plus {
            None | Some("") => 1,
            Some(step) => number(step, "the step")?,
        };
        Ok(Self { first, last, step })
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.last, self.step) {
            (Some(last), _) if last == self.first => write!(f, "{}", self.first),
            (Some(last), 1) => write!(f, "{}..{last}", self.first),
            (Some(last), step) => write!(f, "{}..{last}+{step}", self.first),
            (None, 1) => write!(f, "{}+", self.first),
            (None, step) => write!(f, "{}+{step}", self.first),
        }
    }
}

impl std::str::FromStr for When {
    type Err = InjectSpecError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The keys of `inject(...)` that name the fault; exactly one is given.
pub const ACTION_KEYS: &[&str] = &["errno", "retval", "delay"];

/// Syscalls that are never injected: a failing exit or signal return cannot be survived
/// by any program. A plain name is an error; a group leaves them out.
pub const NEVER_INJECTED: &[&str] = &["exit", "exit_group", "rt_sigreturn"];

/// A bad `inject(...)` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectSpecError {
    /// A malformed `when`: the text and why.
    When(String, String),
    /// A syscall that cannot be injected.
    NeverInjected(String),
}

impl fmt::Display for InjectSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::When(text, why) => write!(
                f,
                "bad `when = \"{text}\"`: {why}; strace's syntax: \"3\" (the 3rd call), \"3+\" \
                 (the 3rd and later), \"3+2\" (3rd, 5th, ...), \"2..4\" (2nd to 4th)"
            ),
            Self::NeverInjected(name) => write!(
                f,
                "`{name}` cannot be injected: no program survives a failing {name}"
            ),
        }
    }
}

impl std::error::Error for InjectSpecError {}

/// Refuses a plain syscall name in [`NEVER_INJECTED`].
pub fn check_injectable(name: &str) -> Result<(), InjectSpecError> {
    if NEVER_INJECTED.contains(&name) {
        Err(InjectSpecError::NeverInjected(name.to_owned()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(text: &str) -> Vec<u64> {
        let when = When::parse(text).unwrap();
        (1..=10).filter(|&n| when.hits(n)).collect()
    }

    #[test]
    fn strace_syntax() {
        assert_eq!(hits("3"), [3]);
        assert_eq!(hits("3+"), [3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(hits("3+2"), [3, 5, 7, 9]);
        assert_eq!(hits("2..4"), [2, 3, 4]);
        assert_eq!(hits("2..8+3"), [2, 5, 8]);
        assert_eq!(hits("1+"), (1..=10).collect::<Vec<_>>());
        let every: Vec<u64> = (1..=10).filter(|&n| When::default().hits(n)).collect();
        assert_eq!(every, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn display_round_trips() {
        for text in ["3", "3+", "3+2", "2..4", "2..8+3"] {
            assert_eq!(When::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(When::from_nth(2).step(3), When::parse("2+3").unwrap());
        assert_eq!(When::range(2, 4), When::parse("2..4").unwrap());
        assert_eq!(When::nth(5), When::parse("5").unwrap());
    }

    #[test]
    fn malformed() {
        for text in [
            "", "0", "x", "3-", "4..2", "2..", "..3", "3++", "3+0", "-1", "1.5",
        ] {
            let err = When::parse(text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`when = \"{text}\"`")),
                "{text}: {err}"
            );
        }
        assert!(When::parse("4..2")
            .unwrap_err()
            .to_string()
            .contains("before the first"));
    }

    #[test]
    fn never_injected() {
        assert!(check_injectable("write").is_ok());
        assert!(check_injectable("exit_group")
            .unwrap_err()
            .to_string()
            .contains("cannot be injected"));
    }
}
