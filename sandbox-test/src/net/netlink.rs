//! The few rtnetlink requests the hosts' network needs, over `netlink-packet-route` and a
//! blocking `netlink-sys` socket: create a bridge and veth pairs, plug and raise links, add
//! addresses and unreachable routes. A socket talks to the network namespace the caller
//! was in when it was opened.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    DefaultNla, Emitable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::errno::Errno;

/// An rtnetlink socket of the caller's current network namespace.
pub(crate) struct Rtnl {
    socket: Socket,
    sequence: u32,
}

/// A refused request: what was asked, and the kernel's errno.
#[derive(Debug)]
pub(crate) struct NetlinkError {
    pub what: String,
    pub errno: Errno,
}

impl std::fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.errno.desc())
    }
}

fn io_errno(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

impl Rtnl {
    pub(crate) fn open() -> Result<Rtnl, NetlinkError> {
        let fail = |what: &str, e: std::io::Error| NetlinkError {
            what: what.to_owned(),
            errno: io_errno(&e),
        };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| fail("netlink socket", e))?;
        socket
            .bind_auto()
            .map_err(|e| fail("binding a netlink socket", e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| fail("connecting a netlink socket", e))?;
        Ok(Rtnl {
            socket,
            sequence: 0,
        })
    }

    /// Sends one request and waits for the kernel's acknowledgement.
    fn request(
        &mut self,
        what: impl Fn() -> String,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), NetlinkError> {
        let fail = |errno| NetlinkError {
            what: what(),
            errno,
        };
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buffer = vec![0; packet.buffer_len()];
        packet.serialize(&mut buffer);
        self.socket
            .send(&buffer, 0)
            .map_err(|e| fail(io_errno(&e)))?;
        let mut reply = vec![0u8; 8192];
        loop {
            let length = self
                .socket
                .recv(&mut &mut reply[..], 0)
                .map_err(|e| fail(io_errno(&e)))?;
            let answer = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[..length])
                .map_err(|_| fail(Errno::EBADMSG))?;
            if answer.header.sequence_number != self.sequence {
                continue;
            }
            return match answer.payload {
                NetlinkPayload::Error(error) => match error.code {
                    None => Ok(()),
                    Some(code) => Err(fail(Errno::from_raw(-code.get()))),
                },
                _ => continue,
            };
        }
    }

    /// `ip link add NAME type bridge`.
    pub(crate) fn add_bridge(&mut self, name: &str) -> Result<(), NetlinkError> {
        let mut link = LinkMessage::default();
        link.attributes = vec![
            LinkAttribute::IfName(name.to_owned()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.request(
            || format!("creating the bridge {name}"),
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip link add NAME type veth peer name PEER netns PEER_NAMESPACE`.
    pub(crate) fn add_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_namespace: BorrowedFd<'_>,
    ) -> Result<(), NetlinkError> {
        let mut peer_link = LinkMessage::default();
        peer_link.attributes = vec![
            LinkAttribute::IfName(peer.to_owned()),
            LinkAttribute::NetNsFd(peer_namespace.as_raw_fd()),
        ];
        let mut link = LinkMessage::default();
        link.attributes = vec![
            LinkAttribute::IfName(name.to_owned()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_link))),
            ]),
        ];
        self.request(
            || format!("creating the veth pair {name}/{peer}"),
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip link set NAME up [master CONTROLLER]`.
    pub(crate) fn set_up(
        &mut self,
        name: &str,
        controller: Option<&str>,
    ) -> Result<(), NetlinkError> {
        let index = index_of(name)?;
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        if let Some(controller) = controller {
            link.attributes = vec![LinkAttribute::Controller(index_of(controller)?)];
        }
        self.request(
            || format!("bringing {name} up"),
            RouteNetlinkMessage::SetLink(link),
            0,
        )
    }

    /// `ip address add ADDRESS/PREFIX dev NAME`.
    pub(crate) fn add_address(
        &mut self,
        name: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index_of(name)?;
        message.attributes = vec![
            AddressAttribute::Local(address.into()),
            AddressAttribute::Address(address.into()),
        ];
        self.request(
            || format!("adding {address}/{prefix} to {name}"),
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip route add unreachable DESTINATION/32` (`add`) or `ip route del ...`.
    pub(crate) fn unreachable_route(
        &mut self,
        destination: Ipv4Addr,
        add: bool,
    ) -> Result<(), NetlinkError> {
        let mut route = RouteMessage::default();
        route.header = RouteHeader {
            address_family: AddressFamily::Inet,
            destination_prefix_length: 32,
            table: RouteHeader::RT_TABLE_MAIN,
            protocol: RouteProtocol::Static,
            scope: RouteScope::Universe,
            kind: RouteType::Unreachable,
            ..Default::default()
        };
        route.attributes = vec![RouteAttribute::Destination(RouteAddress::Inet(destination))];
        let verb = if add { "adding" } else { "removing" };
        let what = || format!("{verb} an unreachable route to {destination}");
        if add {
            self.request(
                what,
                RouteNetlinkMessage::NewRoute(route),
                NLM_F_CREATE | NLM_F_EXCL,
            )
        } else {
            self.request(what, RouteNetlinkMessage::DelRoute(route), 0)
        }
    }
}

/// The root queueing discipline of an interface, as `tc qdisc` would set it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Qdisc {
    /// `tbf rate RATE burst BURST limit LIMIT`: at most `bytes_per_second` leave.
    Rate { bytes_per_second: u32 },
    /// `netem delay DELAY`: every packet leaves `delay` late.
    Delay { delay: std::time::Duration },
}

const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
/// `TC_LINKLAYER_ETHERNET`: the kernel needs no rate table for it.
const LINKLAYER_ETHERNET: u8 = 1;
/// Nanoseconds per psched tick (`PSCHED_SHIFT` = 6).
const NANOS_PER_TICK: u128 = 64;

impl Qdisc {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Qdisc::Rate { .. } => "tbf",
            Qdisc::Delay { .. } => "netem",
        }
    }

    /// The raw `TCA_OPTIONS` payload: `struct tc_tbf_qopt` in a `TCA_TBF_PARMS`, or
    /// `struct tc_netem_qopt` itself.
    fn options(self) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut word = |value: u32| bytes.extend_from_slice(&value.to_ne_bytes());
        match self {
            Qdisc::Rate { bytes_per_second } => {
                let rate = bytes_per_second.max(1);
                // A burst of 1/10 s (at least 16 KiB), a queue of 1/10 s more.
                let burst = (rate / 10).max(16 * 1024);
                let burst_ticks =
                    u128::from(burst) * 1_000_000_000 / u128::from(rate) / NANOS_PER_TICK;
                // struct tc_ratespec rate: cell_log, linklayer, overhead, cell_align, mpu, rate
                word(u32::from(LINKLAYER_ETHERNET) << 8);
                word(0);
                word(rate);
                // peakrate: none
                word(0);
                word(0);
                word(0);
                word(burst + rate / 10); // limit
                word(burst_ticks.min(u128::from(u32::MAX)) as u32); // buffer
                word(0); // mtu
                let nla = DefaultNla::new(TCA_TBF_PARMS, bytes.clone());
                let mut nested = vec![0; nla.buffer_len()];
                nla.emit(&mut nested);
                return nested;
            }
            Qdisc::Delay { delay } => {
                let ticks = delay.as_nanos() / NANOS_PER_TICK;
                word(ticks.min(u128::from(u32::MAX)) as u32); // latency
                word(1000); // limit (packets)
                word(0); // loss
                word(0); // gap
                word(0); // duplicate
                word(0); // jitter
            }
        }
        bytes
    }
}

impl Rtnl {
    /// `tc qdisc replace dev NAME root QDISC`.
    pub(crate) fn set_root_qdisc(&mut self, name: &str, qdisc: Qdisc) -> Result<(), NetlinkError> {
        let mut message = TcMessage::default();
        message.header.index = index_of(name)? as i32;
        message.header.handle = TcHandle { major: 1, minor: 0 };
        message.header.parent = TcHandle::ROOT;
        message.attributes = vec![
            TcAttribute::Kind(qdisc.kind().to_owned()),
            TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, qdisc.options())),
        ];
        self.request(
            || format!("setting {} on {name}", qdisc.kind()),
            RouteNetlinkMessage::NewQueueDiscipline(message),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// `tc qdisc del dev NAME root`; nothing to remove is fine.
    pub(crate) fn clear_root_qdisc(&mut self, name: &str) -> Result<(), NetlinkError> {
        let mut message = TcMessage::default();
        message.header.index = index_of(name)? as i32;
        message.header.parent = TcHandle::ROOT;
        match self.request(
            || format!("removing the queueing discipline of {name}"),
            RouteNetlinkMessage::DelQueueDiscipline(message),
            0,
        ) {
            Err(e) if e.errno == Errno::ENOENT || e.errno == Errno::EINVAL => Ok(()),
            other => other,
        }
    }
}

/// `if_nametoindex` in the current network namespace.
fn index_of(name: &str) -> Result<u32, NetlinkError> {
    nix::net::if_::if_nametoindex(name).map_err(|errno| NetlinkError {
        what: format!("finding the interface {name}"),
        errno,
    })
}
