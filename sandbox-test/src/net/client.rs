//! The body's side of a sandbox with hosts: handles on the hosts, processes spawned on
//! them, partitions. Every call is a request to the sandbox's init, which holds the hosts'
//! namespaces.

use std::fmt;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

use super::hosts::{address, HostReply, HostRequest};
use crate::body::{self, TestBody};
use crate::outcome::{Outcome, Verdict};
use crate::protocol::{self, Message, MAX_MESSAGE};
use crate::step::StepError;

/// Why a call on the sandbox's hosts failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The caller is not the body of a sandbox with hosts.
    NoHosts,
    /// No host of this sandbox has this name.
    UnknownHost {
        /// The name asked for.
        name: String,
        /// The sandbox's hosts.
        known: Vec<String>,
    },
    /// The init refused or could not do it: why.
    Refused(String),
    /// The sandbox's init could not be reached (it is gone, or answered nonsense).
    Channel(String),
    /// [`Spawned::wait`] was already called.
    AlreadyWaited,
    /// This kernel cannot do it: the cause and the fix.
    Unsupported(String),
    /// A loss for [`impair`] that is not a fraction from 0.0 to 1.0: the value given.
    InvalidLoss(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::NoHosts => write!(
                f,
                "this is not the body of a sandbox with hosts: use \
                 #[sandboxed(net(hosts = [\"app\", \"db\"]))] or Sandbox::hosts([...]) \
                 (host processes cannot call this either)"
            ),
            HostError::UnknownHost { name, known } => write!(
                f,
                "no host `{name}` in this sandbox; its hosts are: {}",
                known.join(", ")
            ),
            HostError::Refused(why) => write!(f, "the sandbox's init refused: {why}"),
            HostError::Channel(why) => write!(f, "cannot reach the sandbox's init: {why}"),
            HostError::AlreadyWaited => write!(f, "this process was already waited for"),
            HostError::Unsupported(why) => write!(f, "unsupported here: {why}"),
            HostError::InvalidLoss(given) => write!(
                f,
                "a loss is a fraction from 0.0 (no packet lost) to 1.0 (every packet lost), \
                 not {given}"
            ),
        }
    }
}

impl std::error::Error for HostError {}

/// What the body knows of the hosts.
struct Client {
    names: Vec<String>,
    /// Requests and replies, one at a time.
    control: Mutex<OwnedFd>,
}

static CLIENT: OnceLock<Client> = OnceLock::new();

/// Setup step (body): the body's end of the init's control socket, and the hosts' names.
pub(crate) fn connect(names: &[String], control: OwnedFd) -> Result<(), StepError> {
    let client = Client {
        names: names.to_vec(),
        control: Mutex::new(control),
    };
    CLIENT
        .set(client)
        .map_err(|_| StepError::Other("the hosts' client was set twice".into()))
}

fn client() -> Result<&'static Client, HostError> {
    CLIENT.get().ok_or(HostError::NoHosts)
}

impl Client {
    fn index(&self, name: &str) -> Result<usize, HostError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| HostError::UnknownHost {
                name: name.to_owned(),
                known: self.names.clone(),
            })
    }

    fn request(&self, request: HostRequest) -> Result<(HostReply, Vec<OwnedFd>), HostError> {
        let control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        let channel = |e: protocol::ChannelError| HostError::Channel(e.to_string());
        protocol::send(control.as_fd(), &Message::Host(request), &[]).map_err(channel)?;
        let mut buffer = vec![0u8; MAX_MESSAGE];
        match protocol::receive(control.as_fd(), &mut buffer).map_err(channel)? {
            (Message::HostReply(HostReply::Refused(why)), _) => Err(HostError::Refused(why)),
            (Message::HostReply(HostReply::Unsupported(why)), _) => {
                Err(HostError::Unsupported(why))
            }
            (Message::HostReply(reply), fds) => Ok((reply, fds)),
            (other, _) => Err(HostError::Channel(format!("unexpected answer {other:?}"))),
        }
    }

    fn done(&self, request: HostRequest) -> Result<(), HostError> {
        match self.request(request)? {
            (HostReply::Done, _) => Ok(()),
            (other, _) => Err(HostError::Channel(format!("unexpected answer {other:?}"))),
        }
    }
}

/// A host of the sandbox the body runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    name: String,
    index: usize,
}

/// The host called `name` (one of `net(hosts = [...])`).
pub fn host(name: &str) -> Result<Host, HostError> {
    let index = client()?.index(name)?;
    Ok(Host {
        name: name.to_owned(),
        index,
    })
}

/// Every host of the sandbox, in the order they were given; the body runs on the first.
pub fn hosts() -> Result<Vec<Host>, HostError> {
    let client = client()?;
    Ok(client
        .names
        .iter()
        .enumerate()
        .map(|(index, name)| Host {
            name: name.clone(),
            index,
        })
        .collect())
}

impl Host {
    /// Its name: its hostname, and its name in the sandbox's `/etc/hosts`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its IPv4 address on the sandbox's bridge (`10.99.0.N` for the N-th host).
    pub fn address(&self) -> Ipv4Addr {
        address(self.index)
    }

    /// Runs `function` in a new process on this host, as a body runs: same binary image,
    /// the same files (a copy of the body's mounts), pid and time namespaces, seccomp policy
    /// and clock, with this host's network and hostname. Its stdout and stderr join the
    /// test's output, each line prefixed with `[NAME] `. It sees the host's own interfaces
    /// in `/sys/class/net`. Subprocesses it starts stay on the host; all of them die with
    /// the sandbox, or with [`Spawned::kill`].
    pub fn spawn<R: TestBody>(&self, function: fn() -> R) -> Result<Spawned, HostError> {
        let client = client()?;
        let (entry, func) = body::addresses(function);
        let request = HostRequest::Spawn {
            host: self.index,
            entry,
            func,
        };
        match client.request(request)? {
            (HostReply::Spawned { id }, mut fds) if fds.len() == 1 => Ok(Spawned {
                host: self.name.clone(),
                id,
                verdict: Mutex::new(fds.pop()),
            }),
            (other, _) => Err(HostError::Channel(format!("unexpected answer {other:?}"))),
        }
    }
}

/// A process spawned on a host by [`Host::spawn`].
#[derive(Debug)]
pub struct Spawned {
    host: String,
    id: u32,
    /// Where its verdict and then its exit status arrive; taken by `wait`.
    verdict: Mutex<Option<OwnedFd>>,
}

impl Spawned {
    /// The host it runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Waits for it to end; how it ended, as for a test body (`Passed`, `Panicked`,
    /// `ReturnedErr`, `Signaled` for a killed one, ...).
    pub fn wait(&self) -> Result<Outcome, HostError> {
        let socket = self
            .verdict
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or(HostError::AlreadyWaited)?;
        let mut buffer = vec![0u8; MAX_MESSAGE];
        let mut verdict: Option<Verdict> = None;
        loop {
            match protocol::receive(socket.as_fd(), &mut buffer) {
                Ok((Message::Verdict(v), _)) => verdict = Some(v),
                Ok((Message::BodyExited(status), _)) => {
                    return Ok(Outcome::of_process(verdict.as_ref(), status))
                }
                Ok(_) => {}
                Err(e) => return Err(HostError::Channel(e.to_string())),
            }
        }
    }

    /// Kills it and everything it started (SIGKILL), also once it has returned: background
    /// jobs, double forks and processes in a session of their own included (its keeper, a
    /// child sub-reaper, holds the whole tree). When this returns they are gone. Killing
    /// what has already ended does nothing.
    pub fn kill(&self) -> Result<(), HostError> {
        client()?.done(HostRequest::Kill { id: self.id })
    }
}

/// Drops every packet between each host of `a` and each host of `b`, both ways, until
/// [`heal`]. Partitions add up; traffic between hosts of the same side, and all other
/// traffic, keeps flowing. A connect across a partition fails at once with
/// `EHOSTUNREACH` (no route to host); established connections stall.
pub fn partition(a: &[&str], b: &[&str]) -> Result<(), HostError> {
    let client = client()?;
    let indices = |side: &[&str]| {
        side.iter()
            .map(|name| client.index(name))
            .collect::<Result<Vec<_>, _>>()
    };
    client.done(HostRequest::Partition {
        a: indices(a)?,
        b: indices(b)?,
    })
}

/// Limits what `host` sends and what it receives to `bytes_per_second` each way (a token
/// bucket, `tbf`, with a burst of a tenth of a second), until [`heal`].
pub fn limit_rate(host: &str, bytes_per_second: u32) -> Result<(), HostError> {
    let client = client()?;
    client.done(HostRequest::LimitRate {
        host: client.index(host)?,
        bytes_per_second,
    })
}

/// Delays every packet `host` sends and receives by `delay`, until [`heal`]. Needs the
/// kernel's `sch_netem`; without it, [`HostError::Unsupported`] names the cause and the fix.
pub fn delay(host: &str, delay: std::time::Duration) -> Result<(), HostError> {
    let client = client()?;
    client.done(HostRequest::Delay {
        host: client.index(host)?,
        nanos: u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX),
    })
}

/// Drops each packet `host` sends or receives on its link, at random, with the probability
/// `loss` (0.0 to 1.0: `0.1` loses one packet in ten, each way), until [`heal`]; a new call
/// replaces the host's loss, and `0.0` removes it. Packets between two impaired hosts cross
/// both losses. Uses nftables in the host's own network namespace, with the `nft` program:
/// where it or the kernel's nf_tables is missing, [`HostError::Unsupported`] names the
/// cause and the fix. Anything but a fraction from 0.0 to 1.0 (NaN included) is
/// [`HostError::InvalidLoss`].
pub fn impair(host: &str, loss: f64) -> Result<(), HostError> {
    let ppm = super::loss::parts_per_million(loss)
        .ok_or_else(|| HostError::InvalidLoss(loss.to_string()))?;
    let client = client()?;
    client.done(HostRequest::Impair {
        host: client.index(host)?,
        ppm,
    })
}

/// Removes every partition, rate limit, delay and loss.
pub fn heal() -> Result<(), HostError> {
    client()?.done(HostRequest::Heal)
}
