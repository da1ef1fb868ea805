//! The sandbox's own `/etc/hosts`: the host's entries, and the sandbox's own names first —
//! its hostname on 127.0.1.1 (as Debian does for a machine's name), or, with hosts, every
//! host on its address. It is written into the sandbox's private /tmp, bind-mounted
//! read-only over `/etc/hosts` in the sandbox's mount namespace, and unlinked from /tmp;
//! the host's file is never written.

use std::net::Ipv4Addr;
use std::path::Path;

use nix::mount::{mount, MsFlags};

use crate::step::StepError;

/// The host's file, which the sandbox's covers.
const ETC_HOSTS: &str = "/etc/hosts";
/// Where the sandbox's file is written before it is bind-mounted (the private /tmp).
const STAGING: &str = "/tmp/.sandbox-test-hosts";
/// The address of a default sandbox's hostname.
pub(crate) const OWN_NAME_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);

/// The text of the sandbox's `/etc/hosts`: `names` (name, address) first, then the host's.
pub(crate) fn contents(names: &[(String, Ipv4Addr)], host_file: &str) -> String {
    let mut text = String::from("# The sandbox's names (sandbox-test)\n");
    for (name, address) in names {
        text.push_str(&format!("{address}\t{name}\n"));
    }
    text.push_str("# The host's /etc/hosts\n");
    text.push_str(host_file);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Setup step (init, after the private /tmp is mounted): covers `/etc/hosts` with the
/// sandbox's own. A note when the host has no `/etc/hosts` to cover.
pub(crate) fn install(names: &[(String, Ipv4Addr)]) -> Result<Option<String>, StepError> {
    let host_file = match std::fs::read_to_string(ETC_HOSTS) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(format!(
                "the host has no {ETC_HOSTS}, so the sandbox's names do not resolve \
                 (the host's filesystem is not written to create one)"
            )))
        }
        Err(e) => return Err(StepError::Other(format!("reading {ETC_HOSTS}: {e}"))),
    };
    std::fs::write(STAGING, contents(names, &host_file))
        .map_err(|e| StepError::Other(format!("writing {STAGING}: {e}")))?;
    let bind = |flags: MsFlags, what: &str| {
        mount(Some(STAGING), ETC_HOSTS, None::<&str>, flags, None::<&str>)
            .map_err(|errno| StepError::Sys(format!("{what} {STAGING} over {ETC_HOSTS}"), errno))
    };
    bind(MsFlags::MS_BIND, "bind-mounting")?;
    bind(
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        "making read-only",
    )?;
    // The mount keeps the file; the body's /tmp starts empty.
    std::fs::remove_file(Path::new(STAGING))
        .map_err(|e| StepError::Other(format!("removing {STAGING}: {e}")))?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_names_come_first_and_the_host_entries_stay() {
        let text = contents(
            &[("app".into(), Ipv4Addr::new(10, 99, 0, 1))],
            "127.0.0.1\tlocalhost",
        );
        assert_eq!(
            text,
            "# The sandbox's names (sandbox-test)\n10.99.0.1\tapp\n# The host's /etc/hosts\n\
             127.0.0.1\tlocalhost\n"
        );
    }
}
