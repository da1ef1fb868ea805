//! Several hosts in one sandbox: each host is a network namespace and a uts namespace of
//! its own, created by the sandbox's init, with `lo` and one interface `eth0` plugged into a
//! bridge that lives in the init's network namespace. The addresses exist only inside the
//! sandbox's namespaces; nothing is routed anywhere else.
//!
//! ```sh
//! ip link add hosts type bridge && ip link set hosts up          # in the init's namespace
//! for each host N (address 10.99.0.N):
//!   unshare --net --uts: hostname NAME; ip link set lo up
//!   ip link add hostN type veth peer name eth0 netns HOST; ip link set hostN master hosts up
//!   in HOST: ip address add 10.99.0.N/24 dev eth0; ip link set eth0 up
//! ```
//!
//! A partition is a set of `unreachable` routes: each host of one side gets one to each
//! host of the other side, so a packet between them is refused by its sender's routing,
//! both ways. IPv6 is off on `eth0`, so that no link-local address goes around a partition.
//! A rate limit or a delay is a queueing discipline on both ends of a host's link; random
//! loss is an nftables rule on the bridge (`loss`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

pub(crate) use super::netlink::Qdisc;
use super::netlink::{NetlinkError, Rtnl};
use crate::step::StepError;

/// The first three octets of every host's address: host N (counting from 1) is
/// `10.99.0.N/24`. A private range (RFC 1918); it exists only inside the sandbox.
pub const SUBNET: [u8; 3] = [10, 99, 0];
const PREFIX: u8 = 24;
/// The bridge in the init's network namespace.
const BRIDGE: &str = "hosts";
/// Every host's one interface.
const INTERFACE: &str = "eth0";

/// The address of the host at `index` (counting from 0) in the plan's list.
pub(crate) fn address(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], index as u8 + 1)
}

/// What the body (or a host process) asks the init.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum HostRequest {
    /// Run `entry(func)` in a new process on `host`.
    Spawn {
        host: usize,
        entry: usize,
        func: usize,
    },
    /// SIGKILL a spawned process and everything it started.
    Kill { id: u32 },
    /// Cut every host of `a` from every host of `b`.
    Partition { a: Vec<usize>, b: Vec<usize> },
    /// Shape what leaves and reaches `host`: at most this rate.
    LimitRate { host: usize, bytes_per_second: u32 },
    /// Shape what leaves and reaches `host`: this late.
    Delay { host: usize, nanos: u64 },
    /// Drop what leaves and reaches `host` at random, `ppm` packets in a million (0: none).
    Impair { host: usize, ppm: u32 },
    /// Remove every partition and every shaping.
    Heal,
}

/// The init's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum HostReply {
    /// A process was spawned; carries the socket its verdict and exit status arrive on.
    Spawned {
        id: u32,
    },
    Done,
    Refused(String),
    /// This kernel cannot: the cause and the fix.
    Unsupported(String),
}

/// One host's namespaces, held by the init.
struct HostNamespaces {
    net: OwnedFd,
    uts: OwnedFd,
}

/// The init's view of the sandbox's hosts.
pub(crate) struct Network {
    names: Vec<String>,
    hosts: Vec<HostNamespaces>,
    /// The init's own network namespace, to come back to.
    own_net: OwnedFd,
    own_uts: OwnedFd,
    /// The (from, to) pairs cut by partitions: `from` has an unreachable route to `to`.
    cut: BTreeSet<(usize, usize)>,
    /// The hosts whose links carry a queueing discipline.
    shaped: BTreeSet<usize>,
    /// The hosts that lose packets at random, with their loss in parts per million.
    impaired: BTreeMap<usize, u32>,
}

fn namespace_of_self(kind: &str) -> Result<OwnedFd, StepError> {
    let path = format!("/proc/self/ns/{kind}");
    let fd = nix::fcntl::open(
        path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| StepError::Sys(format!("opening {path}"), errno))?;
    // SAFETY: `open` returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setns(fd: &OwnedFd, kind: CloneFlags, what: &str) -> Result<(), StepError> {
    nix::sched::setns(fd.as_fd(), kind).map_err(|errno| StepError::Sys(what.to_owned(), errno))
}

impl From<NetlinkError> for StepError {
    fn from(error: NetlinkError) -> Self {
        StepError::Sys(error.to_string(), error.errno)
    }
}

impl Network {
    /// Setup step (init): creates every host's namespaces, the bridge and the links.
    pub(crate) fn create(names: &[String]) -> Result<Network, StepError> {
        let mut network = Network {
            names: names.to_vec(),
            hosts: Vec::with_capacity(names.len()),
            own_net: namespace_of_self("net")?,
            own_uts: namespace_of_self("uts")?,
            cut: BTreeSet::new(),
            shaped: BTreeSet::new(),
            impaired: BTreeMap::new(),
        };
        for name in names {
            let host = network.new_host(name)?;
            network.hosts.push(host);
        }
        let mut rtnl = Rtnl::open()?;
        rtnl.add_bridge(BRIDGE)?;
        rtnl.set_up(BRIDGE, None)?;
        for (index, host) in network.hosts.iter().enumerate() {
            let outer = outer_link(index);
            rtnl.add_veth(&outer, INTERFACE, host.net.as_fd())?;
            rtnl.set_up(&outer, Some(BRIDGE))?;
        }
        for index in 0..network.hosts.len() {
            network.in_host(index, || {
                let mut rtnl = Rtnl::open()?;
                rtnl.add_address(INTERFACE, address(index), PREFIX)?;
                rtnl.set_up(INTERFACE, None)?;
                Ok(())
            })?;
        }
        Ok(network)
    }

    /// `unshare --net --uts`, named and with `lo` up, then back to the init's namespaces.
    fn new_host(&self, name: &str) -> Result<HostNamespaces, StepError> {
        crate::namespaces::unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS)?;
        let configured = (|| {
            crate::namespaces::set_hostname(name)?;
            super::bring_up_loopback().map_err(StepError::from)?;
            disable_ipv6_on_new_interfaces()?;
            Ok(HostNamespaces {
                net: namespace_of_self("net")?,
                uts: namespace_of_self("uts")?,
            })
        })();
        setns(
            &self.own_net,
            CloneFlags::CLONE_NEWNET,
            "returning to the init's network",
        )?;
        setns(
            &self.own_uts,
            CloneFlags::CLONE_NEWUTS,
            "returning to the init's uts",
        )?;
        configured
    }

    /// Runs `f` in the network namespace of host `index`, then comes back.
    pub(crate) fn in_host<T>(
        &self,
        index: usize,
        f: impl FnOnce() -> Result<T, StepError>,
    ) -> Result<T, StepError> {
        setns(
            &self.hosts[index].net,
            CloneFlags::CLONE_NEWNET,
            "entering a host's network",
        )?;
        let result = f();
        setns(
            &self.own_net,
            CloneFlags::CLONE_NEWNET,
            "returning to the init's network",
        )?;
        result
    }

    /// Setup step (body, host process): moves the caller onto host `index` for good: its
    /// network and its hostname.
    pub(crate) fn enter(&self, index: usize) -> Result<(), StepError> {
        let host = &self.hosts[index];
        setns(
            &host.net,
            CloneFlags::CLONE_NEWNET,
            "entering the host's network",
        )?;
        setns(
            &host.uts,
            CloneFlags::CLONE_NEWUTS,
            "entering the host's uts namespace",
        )
    }

    /// Cuts every host of `a` from every host of `b`, both ways, on top of the cuts there
    /// are.
    pub(crate) fn partition(&mut self, a: &[usize], b: &[usize]) -> Result<(), String> {
        if let Some(both) = a.iter().find(|host| b.contains(host)) {
            return Err(format!(
                "host `{}` is on both sides of the partition",
                self.names[*both]
            ));
        }
        if a.is_empty() || b.is_empty() {
            return Err("a side of the partition names no host".into());
        }
        let pairs = a
            .iter()
            .flat_map(|&x| b.iter().flat_map(move |&y| [(x, y), (y, x)]));
        for (from, to) in pairs {
            if self.cut.contains(&(from, to)) {
                continue;
            }
            self.route(from, to, true)?;
            self.cut.insert((from, to));
        }
        Ok(())
    }

    /// Removes every partition, shaping and loss.
    pub(crate) fn heal(&mut self) -> Result<(), String> {
        while let Some(&(from, to)) = self.cut.first() {
            self.route(from, to, false)?;
            self.cut.remove(&(from, to));
        }
        while let Some(&host) = self.shaped.first() {
            self.in_host(host, || Ok(Rtnl::open()?.clear_root_qdisc(INTERFACE)?))
                .map_err(|e| format!("{e:?}"))?;
            Rtnl::open()
                .and_then(|mut rtnl| rtnl.clear_root_qdisc(&outer_link(host)))
                .map_err(|e| e.to_string())?;
            self.shaped.remove(&host);
        }
        if !self.impaired.is_empty() {
            super::loss::set(&[]).map_err(|e| e.to_string())?;
            self.impaired.clear();
        }
        Ok(())
    }

    /// Drops, at random, `ppm` in a million of the packets `host` sends and of those it
    /// receives, in place of the loss set before; 0 removes it. `Err(Ok(why))`: refused;
    /// `Err(Err(why))`: this machine cannot (no `nft`, no nf_tables).
    pub(crate) fn impair(&mut self, host: usize, ppm: u32) -> Result<(), Result<String, String>> {
        let mut impaired = self.impaired.clone();
        if ppm == 0 {
            impaired.remove(&host);
        } else {
            impaired.insert(host, ppm);
        }
        if impaired == self.impaired {
            return Ok(());
        }
        let ports: Vec<(String, u32)> = impaired
            .iter()
            .map(|(&host, &ppm)| (outer_link(host), ppm))
            .collect();
        match super::loss::set(&ports) {
            Ok(()) => {}
            Err(super::loss::LossError::Unsupported(why)) => return Err(Err(why)),
            Err(super::loss::LossError::Failed(why)) => return Err(Ok(why)),
        }
        self.impaired = impaired;
        Ok(())
    }

    /// Puts `qdisc` on both ends of `host`'s link: its `eth0` (what it sends) and its veth
    /// on the bridge (what it receives). `Err(Ok(why))`: refused; `Err(Err(why))`: this
    /// kernel lacks the queueing discipline.
    pub(crate) fn shape(
        &mut self,
        host: usize,
        qdisc: Qdisc,
    ) -> Result<(), Result<String, String>> {
        let explain = |e: NetlinkError| match e.errno {
            Errno::ENOENT | Errno::EOPNOTSUPP => Err(format!(
                "this kernel has no `{kind}` queueing discipline (sch_{kind}), so {what} \
                 cannot be shaped. Fix: load it (`sudo modprobe sch_{kind}`) or use a kernel \
                 built with CONFIG_NET_SCH_{upper}",
                kind = qdisc.kind(),
                what = self.names[host],
                upper = qdisc.kind().to_uppercase(),
            )),
            _ => Ok(e.to_string()),
        };
        Rtnl::open()
            .and_then(|mut rtnl| rtnl.set_root_qdisc(&outer_link(host), qdisc))
            .map_err(explain)?;
        self.shaped.insert(host);
        let inner = self.in_host(host, || {
            Rtnl::open()?
                .set_root_qdisc(INTERFACE, qdisc)
                .map_err(|e| StepError::Other(e.to_string()))
        });
        inner.map_err(|e| Ok(format!("{e:?}")))
    }

    fn route(&self, from: usize, to: usize, add: bool) -> Result<(), String> {
        self.in_host(from, || {
            Rtnl::open()?.unreachable_route(address(to), add)?;
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))
    }

    /// The name of host `index`.
    pub(crate) fn name(&self, index: usize) -> &str {
        &self.names[index]
    }
}

/// Host `index`'s end of its veth pair, on the bridge in the init's namespace.
fn outer_link(index: usize) -> String {
    format!("host{}", index + 1)
}

/// New interfaces of the current network namespace get no IPv6 (no link-local address that
/// would go around a partition). A kernel without IPv6 has nothing to turn off.
fn disable_ipv6_on_new_interfaces() -> Result<(), StepError> {
    match std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StepError::Sys(
            "turning IPv6 off for the host's interfaces".into(),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )),
    }
}
