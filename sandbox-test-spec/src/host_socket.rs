//! The host's control sockets: the sockets that hand out control of the host (a container
//! engine, a D-Bus bus, a systemd manager). Every sandbox hides them unless the test
//! exposes one by name (`expose = ["docker"]`).

use std::fmt;
use std::path::PathBuf;

/// A host control socket a test may expose on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostSocket {
    /// The Docker daemon: `/run/docker.sock`, `$XDG_RUNTIME_DIR/docker.sock` (rootless),
    /// and the socket named by `DOCKER_HOST=unix://...`.
    Docker,
    /// Podman's API service: `/run/podman/podman.sock`, `$XDG_RUNTIME_DIR/podman/podman.sock`.
    Podman,
    /// containerd: `/run/containerd/containerd.sock` (and its `.ttrpc`),
    /// `$XDG_RUNTIME_DIR/containerd/containerd.sock`.
    Containerd,
    /// The user's D-Bus session bus: `$XDG_RUNTIME_DIR/bus`, and the path in
    /// `DBUS_SESSION_BUS_ADDRESS=unix:path=...`.
    SessionBus,
    /// The D-Bus system bus: `/run/dbus/system_bus_socket`.
    SystemBus,
    /// The user's systemd manager: `$XDG_RUNTIME_DIR/systemd/private`.
    SystemdUser,
    /// The system's systemd manager: `/run/systemd/private`.
    Systemd,
}

impl HostSocket {
    /// Every known socket, in the order of the documentation.
    pub const ALL: [HostSocket; 7] = [
        HostSocket::Docker,
        HostSocket::Podman,
        HostSocket::Containerd,
        HostSocket::SessionBus,
        HostSocket::SystemBus,
        HostSocket::SystemdUser,
        HostSocket::Systemd,
    ];

    /// The attribute spelling.
    pub fn name(self) -> &'static str {
        match self {
            HostSocket::Docker => "docker",
            HostSocket::Podman => "podman",
            HostSocket::Containerd => "containerd",
            HostSocket::SessionBus => "session-bus",
            HostSocket::SystemBus => "system-bus",
            HostSocket::SystemdUser => "systemd-user",
            HostSocket::Systemd => "systemd",
        }
    }

    /// Parses an attribute spelling (`"docker"`, `"session-bus"`, ...).
    pub fn parse(text: &str) -> Result<Self, UnknownHostSocket> {
        Self::ALL
            .into_iter()
            .find(|socket| socket.name() == text)
            .ok_or_else(|| UnknownHostSocket(text.to_owned()))
    }

    /// Where this socket may be, given the user's runtime directories
    /// (`$XDG_RUNTIME_DIR`, `/run/user/UID`) and a way to read the environment.
    pub fn paths(
        self,
        runtime_dirs: &[PathBuf],
        env: impl Fn(&str) -> Option<String>,
    ) -> Vec<PathBuf> {
        let in_runtime = |name: &str| {
            runtime_dirs
                .iter()
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        };
        let mut paths: Vec<PathBuf> = match self {
            HostSocket::Docker => ["/run/docker.sock", "/var/run/docker.sock"]
                .map(PathBuf::from)
                .into(),
            HostSocket::Podman => vec![PathBuf::from("/run/podman/podman.sock")],
            HostSocket::Containerd => [
                "/run/containerd/containerd.sock",
                "/run/containerd/containerd.sock.ttrpc",
            ]
            .map(PathBuf::from)
            .into(),
            HostSocket::SessionBus => Vec::new(),
            HostSocket::SystemBus => [
                "/run/dbus/system_bus_socket",
                "/var/run/dbus/system_bus_socket",
            ]
            .map(PathBuf::from)
            .into(),
            HostSocket::SystemdUser => Vec::new(),
            HostSocket::Systemd => vec![PathBuf::from("/run/systemd/private")],
        };
        paths.extend(match self {
            HostSocket::Docker => in_runtime("docker.sock"),
            HostSocket::Podman => in_runtime("podman/podman.sock"),
            HostSocket::Containerd => in_runtime("containerd/containerd.sock"),
            HostSocket::SessionBus => in_runtime("bus"),
            HostSocket::SystemdUser => in_runtime("systemd/private"),
            HostSocket::SystemBus | HostSocket::Systemd => Vec::new(),
        });
        let named = match self {
            HostSocket::Docker => {
                env("DOCKER_HOST").and_then(|v| v.strip_prefix("unix://").map(str::to_owned))
            }
            HostSocket::SessionBus => env("DBUS_SESSION_BUS_ADDRESS").and_then(|v| unix_path(&v)),
            _ => None,
        };
        paths.extend(named.map(PathBuf::from).filter(|p| p.is_absolute()));
        paths
    }
}

/// The `path=` of the first `unix:` address in a D-Bus address list.
fn unix_path(addresses: &str) -> Option<String> {
    addresses
        .split(';')
        .filter_map(|address| address.strip_prefix("unix:"))
        .flat_map(|params| params.split(','))
        .find_map(|param| param.strip_prefix("path=").map(str::to_owned))
}

/// A name that is not one of [`HostSocket::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHostSocket(pub String);

impl fmt::Display for UnknownHostSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown host socket `{}`: expected one of ", self.0)?;
        for (i, socket) in HostSocket::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "\"{}\"", socket.name())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownHostSocket {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for socket in HostSocket::ALL {
            assert_eq!(HostSocket::parse(socket.name()), Ok(socket));
        }
        let error = HostSocket::parse("dockerd").unwrap_err().to_string();
        assert!(
            error.contains("`dockerd`") && error.contains("\"session-bus\""),
            "{error}"
        );
    }

    #[test]
    fn paths_follow_the_runtime_dir_and_the_environment() {
        let runtime = [PathBuf::from("/run/user/1000")];
        let env = |key: &str| match key {
            "DOCKER_HOST" => Some("unix:///srv/docker.sock".to_owned()),
            "DBUS_SESSION_BUS_ADDRESS" => {
                Some("unix:abstract=/x;unix:path=/run/user/1000/bus2,guid=1".to_owned())
            }
            _ => None,
        };
        let docker = HostSocket::Docker.paths(&runtime, env);
        assert!(docker.contains(&PathBuf::from("/run/user/1000/docker.sock")));
        assert!(docker.contains(&PathBuf::from("/srv/docker.sock")));
        let bus = HostSocket::SessionBus.paths(&runtime, env);
        assert_eq!(
            bus,
            ["/run/user/1000/bus", "/run/user/1000/bus2"].map(PathBuf::from)
        );
        let tcp = |key: &str| (key == "DOCKER_HOST").then(|| "tcp://1.2.3.4:2375".to_owned());
        assert_eq!(HostSocket::Docker.paths(&[], tcp).len(), 2);
    }
}
