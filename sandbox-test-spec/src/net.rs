//! Network modes: `"loopback"`, `"none"`, `"host"`.

use std::fmt;
use std::str::FromStr;

/// The network a sandbox sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NetMode {
    /// A private network namespace with `lo` up: servers and clients inside talk to each
    /// other, nothing outside is reachable.
    #[default]
    Loopback,
    /// A private network namespace with nothing up: every connect fails.
    None,
    /// The host's network namespace (no isolation; the fastest).
    Host,
}

impl NetMode {
    /// Every mode, in documentation order.
    pub const ALL: [NetMode; 3] = [NetMode::Loopback, NetMode::None, NetMode::Host];

    /// The spelling used in `net = "..."`.
    pub fn as_str(self) -> &'static str {
        match self {
            NetMode::Loopback => "loopback",
            NetMode::None => "none",
            NetMode::Host => "host",
        }
    }
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown network mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetModeError(pub String);

impl fmt::Display for NetModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown network mode `{}`; expected \"loopback\", \"none\" or \"host\"",
            self.0
        )
    }
}

impl std::error::Error for NetModeError {}

impl FromStr for NetMode {
    type Err = NetModeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NetMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == text)
            .ok_or_else(|| NetModeError(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_mode() {
        for mode in NetMode::ALL {
            assert_eq!(mode.as_str().parse::<NetMode>(), Ok(mode));
        }
        assert_eq!(NetMode::default(), NetMode::Loopback);
    }

    #[test]
    fn rejects_unknown_modes() {
        assert_eq!(
            "bridge".parse::<NetMode>(),
            Err(NetModeError("bridge".into()))
        );
        assert_eq!("Host".parse::<NetMode>(), Err(NetModeError("Host".into())));
        assert!(NetModeError("x".into())
            .to_string()
            .contains("\"loopback\""));
    }
}
