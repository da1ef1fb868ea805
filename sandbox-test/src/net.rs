//! The sandbox's network. Modes: `loopback` (private namespace, `lo` up), `none` (private
//! namespace, nothing up) and `host` (the host's namespace); and, with
//! `net(hosts = [...])`, several hosts on a private bridge (see [`host`], [`partition`]).
//!
//! The namespace itself is created by the sandbox's `unshare` (see `needs_namespace`);
//! this module configures it from inside, with plain ioctls and rtnetlink (no `ip` binary
//! needed). `hosts` creates the hosts, `service` is the init's side of them, `client` the
//! body's, `loss` their random packet loss (nftables), `etc_hosts` the sandbox's
//! `/etc/hosts`.

pub(crate) mod client;
pub(crate) mod etc_hosts;
pub(crate) mod hosts;
mod loss;
mod netlink;
pub(crate) mod service;

pub use client::{
    delay, heal, host, hosts, impair, limit_rate, partition, Host, HostError, Spawned,
};
pub use hosts::SUBNET;

use std::fmt;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

pub use crate::spec::net::NetMode;
use crate::step::StepError;

/// Why the network could not be configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The socket used for interface ioctls could not be created.
    Socket(Errno),
    /// `SIOCGIFFLAGS` on the named interface failed.
    GetFlags(&'static str, Errno),
    /// `SIOCSIFFLAGS` on the named interface failed.
    SetFlags(&'static str, Errno),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Socket(e) => write!(f, "cannot open a socket to configure the network: {e}"),
            NetError::GetFlags(name, e) => write!(f, "cannot read the flags of `{name}`: {e}"),
            NetError::SetFlags(name, e) => write!(f, "cannot bring `{name}` up: {e}"),
        }
    }
}

impl std::error::Error for NetError {}

impl From<NetError> for StepError {
    fn from(error: NetError) -> Self {
        match error {
            NetError::Socket(errno)
            | NetError::GetFlags(_, errno)
            | NetError::SetFlags(_, errno) => StepError::Sys(error.to_string(), errno),
        }
    }
}

/// The loopback interface of every network namespace.
const LOOPBACK: &str = "lo";

/// The interface ioctls (the macros make them `pub`; the module keeps them to the crate).
mod ioctl {
    nix::ioctl_read_bad!(get_interface_flags, libc::SIOCGIFFLAGS, libc::ifreq);
    nix::ioctl_write_ptr_bad!(set_interface_flags, libc::SIOCSIFFLAGS, libc::ifreq);
}
use ioctl::{get_interface_flags, set_interface_flags};

/// Whether the sandbox must `unshare(CLONE_NEWNET)` for `mode`.
pub(crate) fn needs_namespace(mode: NetMode) -> bool {
    match mode {
        NetMode::Loopback | NetMode::None => true,
        NetMode::Host => false,
    }
}

/// `flags` with `CLONE_NEWNET` only when `mode` needs a network namespace.
pub(crate) fn namespace_flags(flags: CloneFlags, mode: NetMode) -> CloneFlags {
    if needs_namespace(mode) {
        flags | CloneFlags::CLONE_NEWNET
    } else {
        flags.difference(CloneFlags::CLONE_NEWNET)
    }
}

/// The names the sandbox's `/etc/hosts` gives: every host on its address, or the
/// sandbox's hostname on 127.0.1.1.
pub(crate) fn own_names(hostname: &str, hosts: &[String]) -> Vec<(String, std::net::Ipv4Addr)> {
    if hosts.is_empty() {
        return vec![(hostname.to_owned(), etc_hosts::OWN_NAME_ADDRESS)];
    }
    hosts
        .iter()
        .enumerate()
        .map(|(index, name)| (name.clone(), hosts::address(index)))
        .collect()
}

/// Hosts need the default network mode, and give the body its hostname (the first's).
pub(crate) fn check_hosts_fit(
    hosts: &[String],
    mode: NetMode,
    hostname_given: bool,
) -> Result<(), String> {
    if hosts.is_empty() {
        return Ok(());
    }
    if mode != NetMode::Loopback {
        return Err(format!(
            "hosts need a network of their own; net = \"{mode}\" cannot have hosts"
        ));
    }
    if hostname_given {
        return Err(format!(
            "with hosts, each host's hostname is its name (the body runs on `{}`); \
             drop `hostname`",
            hosts[0]
        ));
    }
    Ok(())
}

/// Serde for [`NetMode`] (the spec types are std-only), as its `net = "..."` spelling.
pub(crate) mod serde_mode {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::NetMode;

    pub(crate) fn serialize<S: Serializer>(
        mode: &NetMode,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(mode.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<NetMode, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Setup step (sandbox init, inside the new network namespace): configures the
/// namespace for `mode`. `none` and `host` need nothing.
pub(crate) fn configure(mode: NetMode) -> Result<(), NetError> {
    match mode {
        NetMode::Loopback => bring_up_loopback(),
        NetMode::None | NetMode::Host => Ok(()),
    }
}

/// Sets `IFF_UP` on `lo` of the current network namespace (needs `CAP_NET_ADMIN` over it).
/// The kernel assigns 127.0.0.1/8 and ::1 when `lo` comes up.
pub(crate) fn bring_up_loopback() -> Result<(), NetError> {
    let socket = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(NetError::Socket)?;
    let mut request = interface_request(LOOPBACK);
    // SAFETY: `request` is a valid ifreq naming an interface; the kernel fills ifru_flags.
    unsafe { get_interface_flags(socket.as_raw_fd(), &mut request) }
        .map_err(|e| NetError::GetFlags(LOOPBACK, e))?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    request.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: `request` names the interface and carries the new flags.
    unsafe { set_interface_flags(socket.as_raw_fd(), &request) }
        .map_err(|e| NetError::SetFlags(LOOPBACK, e))?;
    Ok(())
}

fn interface_request(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    request
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use nix::sched::CloneFlags;

    use super::*;
    use crate::test_support::in_namespaces;

    #[test]
    fn loopback_carries_tcp_inside_a_fresh_namespace() {
        in_namespaces(CloneFlags::CLONE_NEWNET, || {
            configure(NetMode::Loopback).map_err(|e| e.to_string())?;
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            let mut client = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
            client.write_all(b"ping").map_err(|e| e.to_string())?;
            let (mut server, _) = listener.accept().map_err(|e| e.to_string())?;
            let mut got = [0u8; 4];
            server.read_exact(&mut got).map_err(|e| e.to_string())?;
            if &got != b"ping" {
                return Err(format!("server read {got:?}"));
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn none_leaves_loopback_down() {
        in_namespaces(CloneFlags::CLONE_NEWNET, || {
            configure(NetMode::None).map_err(|e| e.to_string())?;
            // The kernel may already have 127.0.0.1 on a down `lo`, so a bind can succeed;
            // a connect, even to a socket listening in this namespace, cannot.
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            match TcpStream::connect(address) {
                Ok(_) => Err("connected over a down lo".to_owned()),
                Err(e) if e.raw_os_error() == Some(libc::ENETUNREACH) => Ok(()),
                Err(e) => Err(format!("unexpected error: {e}")),
            }
        })
        .unwrap();
    }

    #[test]
    fn only_host_mode_shares_the_namespace() {
        assert!(needs_namespace(NetMode::Loopback));
        assert!(needs_namespace(NetMode::None));
        assert!(!needs_namespace(NetMode::Host));
        let all = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET;
        assert_eq!(
            namespace_flags(all, NetMode::Host),
            CloneFlags::CLONE_NEWUSER
        );
        assert_eq!(namespace_flags(all, NetMode::None), all);
    }

    #[test]
    fn modes_cross_the_plan_as_their_spelling() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Carrier {
            #[serde(with = "serde_mode")]
            net: NetMode,
        }
        let json = serde_json::to_string(&Carrier { net: NetMode::Host }).unwrap();
        assert_eq!(json, r#"{"net":"host"}"#);
        assert_eq!(
            serde_json::from_str::<Carrier>(&json).unwrap().net,
            NetMode::Host
        );
        assert!(serde_json::from_str::<Carrier>(r#"{"net":"wifi"}"#).is_err());
    }
}
