//! Network modes: `"loopback"`, `"none"`, `"host"`; the names of `net(hosts = [...])`.

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

/// The fewest and the most hosts a sandbox may have.
pub const HOSTS: std::ops::RangeInclusive<usize> = 2..=16;

/// A refused list of hosts: the message, and which name it is about (if one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsError {
    /// The position of the name the error is about; `None`: the list as a whole.
    pub index: Option<usize>,
    /// What is wrong, for a person.
    pub message: String,
}

/// Checks the names of `net(hosts = [...])`: 2 to 16, unique, each a hostname of RFC 1123
/// (dot-separated labels of letters, digits and inner hyphens, at most 64 bytes in all,
/// the kernel's limit for a hostname).
pub fn check_hosts(names: &[String]) -> Result<(), HostsError> {
    if !HOSTS.contains(&names.len()) {
        return Err(HostsError {
            index: None,
            message: format!(
                "a sandbox has {} to {} hosts, not {}",
                HOSTS.start(),
                HOSTS.end(),
                names.len()
            ),
        });
    }
    for (index, name) in names.iter().enumerate() {
        let refuse = |message: String| HostsError {
            index: Some(index),
            message,
        };
        check_host_name(name)
            .map_err(|why| refuse(format!("`{name}` is not a hostname: {why}")))?;
        if names[..index].contains(name) {
            return Err(refuse(format!("host `{name}` is given twice")));
        }
    }
    Ok(())
}

fn check_host_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a hostname has 1 to 64 characters".into());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each dot-separated label has 1 to 63 characters".into());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
        {
            return Err(format!("{c:?} is not a letter, a digit or a hyphen"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label neither starts nor ends with a hyphen".into());
        }
    }
    Ok(())
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

    #[test]
    fn checks_host_lists() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(check_hosts(&names(&["app", "db", "db-2.example"])), Ok(()));
        assert_eq!(check_hosts(&names(&["app"])).unwrap_err().index, None);
        let too_many: Vec<String> = (0..17).map(|i| format!("h{i}")).collect();
        assert!(check_hosts(&too_many)
            .unwrap_err()
            .message
            .contains("not 17"));
        let twice = check_hosts(&names(&["a", "b", "a"])).unwrap_err();
        assert_eq!(twice.index, Some(2));
        assert!(twice.message.contains("given twice"));
        for bad in ["", "a b", "-a", "a-", "a..b", "a_b", &"x".repeat(65)] {
            let error = check_hosts(&names(&["ok", bad])).unwrap_err();
            assert_eq!(error.index, Some(1), "{bad:?}");
        }
    }
}
