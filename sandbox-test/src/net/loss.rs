//! Random packet loss on hosts' links, with nftables, on the sandbox's bridge in the
//! init's network namespace (never the machine's ruleset): a table `sandbox_test` whose one
//! base chain drops each frame the bridge forwards from or to an impaired host's port when
//! a random number falls below its loss. The loss is silent, as on a wire: the hosts' own
//! stacks see no error (a drop in a host's own output hook would fail its `sendto` with
//! EPERM).
//!
//! ```sh
//! nft add table bridge sandbox_test
//! nft add chain bridge sandbox_test forward '{ type filter hook forward priority 0; }'
//! for each impaired host N, with its loss in parts per million:
//!   nft add rule bridge sandbox_test forward iifname hostN numgen random mod 1000000 '<' PPM drop
//!   nft add rule bridge sandbox_test forward oifname hostN numgen random mod 1000000 '<' PPM drop
//! ```
//!
//! The ruleset is built with the `nftables` crate and applied by the `nft` program (its
//! JSON input, `nft -j -f -`), looked up in `PATH`, then in /usr/sbin and /sbin. A loss of
//! one drops every frame (nft refuses a comparison that always holds).

use std::borrow::Cow;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, NgMode, Numgen};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

/// Loss is counted in parts per million: `numgen random mod 1000000`.
pub(crate) const PER_MILLION: u32 = 1_000_000;

const TABLE: &str = "sandbox_test";
/// Where `nft` is looked for after `PATH`: it is an administrator's program, and an
/// unprivileged user's `PATH` often lacks these.
const SYSTEM_DIRECTORIES: [&str; 2] = ["/usr/sbin", "/sbin"];

/// Why the loss could not be set.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LossError {
    /// This machine cannot: the cause and the fix.
    Unsupported(String),
    /// `nft` refused: what it said.
    Failed(String),
}

impl std::fmt::Display for LossError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LossError::Unsupported(why) | LossError::Failed(why) => f.write_str(why),
        }
    }
}

/// The `fraction` (0.0 to 1.0) as parts per million; `None` for anything else (NaN
/// included).
pub(crate) fn parts_per_million(fraction: f64) -> Option<u32> {
    (0.0..=1.0)
        .contains(&fraction)
        .then(|| (fraction * f64::from(PER_MILLION)).round() as u32)
}

/// In the bridge's network namespace: drops frames from and to each of `ports` (a bridge
/// port and its loss, in parts per million of [`PER_MILLION`]) at random, in place of the
/// losses set before; no port removes them all.
pub(crate) fn set(ports: &[(String, u32)]) -> Result<(), LossError> {
    let nft = find_nft(std::env::var_os("PATH").as_deref())?;
    apply(&nft, &ruleset(ports).to_nftables())
}

/// The batch that replaces the table with one for `ports`.
fn ruleset(ports: &[(String, u32)]) -> Batch<'static> {
    let mut batch = Batch::new();
    // Adding, then deleting, the table removes the earlier losses whether there were any or not.
    batch.add(NfListObject::Table(table()));
    batch.delete(NfListObject::Table(table()));
    if !ports.is_empty() {
        batch.add(NfListObject::Table(table()));
        batch.add(NfListObject::Chain(chain()));
        for (port, ppm) in ports {
            for key in [MetaKey::Iifname, MetaKey::Oifname] {
                batch.add(NfListObject::Rule(drop_rule(key, port, *ppm)));
            }
        }
    }
    batch
}

/// `nft -j -f -` with `ruleset` on its input; what it says on failure is kept for the error
/// (the crate's own runner leaves nft's stderr on the test's output).
fn apply(nft: &Path, ruleset: &Nftables<'_>) -> Result<(), LossError> {
    let run = || -> std::io::Result<std::process::Output> {
        let mut child = Command::new(nft)
            .args(["-j", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let payload = serde_json::to_vec(ruleset).map_err(std::io::Error::other)?;
        let written = child
            .stdin
            .take()
            .map(|mut stdin| stdin.write_all(&payload));
        let output = child.wait_with_output()?;
        written.transpose()?;
        Ok(output)
    };
    let output =
        run().map_err(|e| LossError::Failed(format!("cannot run {}: {e}", nft.display())))?;
    if output.status.success() {
        return Ok(());
    }
    Err(explain(String::from_utf8_lossy(&output.stderr).trim()))
}

fn table() -> Table<'static> {
    Table {
        family: NfFamily::Bridge,
        name: TABLE.into(),
        handle: None,
    }
}

const CHAIN: &str = "forward";

fn chain() -> Chain<'static> {
    Chain {
        family: NfFamily::Bridge,
        table: TABLE.into(),
        name: CHAIN.into(),
        _type: Some(NfChainType::Filter),
        hook: Some(NfHook::Forward),
        prio: Some(0),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }
}

/// `IIFNAME/OIFNAME == port, numgen random mod 1000000 <= ppm - 1: drop` (0 < ppm).
fn drop_rule(key: MetaKey, port: &str, ppm: u32) -> Rule<'static> {
    let statements = [
        Some(Statement::Match(Match {
            left: Expression::Named(NamedExpression::Meta(Meta { key })),
            right: Expression::String(Cow::Owned(port.to_owned())),
            op: Operator::EQ,
        })),
        // Every frame for a loss of one: nft refuses a comparison that is always true.
        (ppm < PER_MILLION).then(|| {
            Statement::Match(Match {
                left: Expression::Named(NamedExpression::Numgen(Numgen {
                    mode: NgMode::Random,
                    ng_mod: PER_MILLION,
                    offset: None,
                })),
                // `<= ppm - 1` rather than `< ppm`: the crate's `Operator::LT` is spelt `>`
                // in its JSON (0.6.3; nftables-rs pull request #248), `LEQ` is right.
                right: Expression::Number(ppm - 1),
                op: Operator::LEQ,
            })
        }),
        Some(Statement::Drop(None)),
    ];
    let statements: Vec<Statement<'static>> = statements.into_iter().flatten().collect();
    Rule {
        family: NfFamily::Bridge,
        table: TABLE.into(),
        chain: CHAIN.into(),
        expr: statements.into(),
        handle: None,
        index: None,
        comment: None,
    }
}

/// The `nft` program: the first in `path`, else in [`SYSTEM_DIRECTORIES`].
fn find_nft(path: Option<&OsStr>) -> Result<PathBuf, LossError> {
    let directories: Vec<PathBuf> = path
        .map(|path| std::env::split_paths(path).collect())
        .unwrap_or_default();
    directories
        .iter()
        .map(PathBuf::as_path)
        .chain(SYSTEM_DIRECTORIES.iter().map(Path::new))
        .map(|directory| directory.join("nft"))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            LossError::Unsupported(
                "random packet loss is set with nftables' `nft` program, which is not \
                 installed here (looked in PATH, /usr/sbin and /sbin). Fix: install nftables \
                 (`sudo apt-get install nftables`, `sudo dnf install nftables`)"
                    .into(),
            )
        })
}

fn is_executable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok() && path.is_file()
}

/// What `nft` said when it failed, for a person; a kernel without nf_tables is this
/// machine's limit.
fn explain(stderr: &str) -> LossError {
    if stderr.contains("Operation not supported") || stderr.contains("Protocol not supported") {
        LossError::Unsupported(format!(
            "this kernel lacks the nftables support random packet loss needs (`nft` said: \
             {stderr}). Fix: load it (`sudo modprobe nf_tables nft_numgen`) or use a kernel \
             built with CONFIG_NF_TABLES, CONFIG_NF_TABLES_BRIDGE and CONFIG_NFT_NUMGEN"
        ))
    } else {
        LossError::Failed(format!("`nft` refused the loss: {stderr}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_from_zero_to_one_are_parts_per_million() {
        assert_eq!(parts_per_million(0.0), Some(0));
        assert_eq!(parts_per_million(0.1), Some(100_000));
        assert_eq!(parts_per_million(1.0), Some(PER_MILLION));
        for bad in [-0.1, 1.000_001, f64::NAN, f64::INFINITY] {
            assert_eq!(parts_per_million(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_missing_nft_names_the_cause_and_the_fix() {
        let empty = tempfile::tempdir().unwrap();
        let found = find_nft(Some(empty.path().as_os_str()));
        if SYSTEM_DIRECTORIES
            .iter()
            .any(|d| is_executable(&Path::new(d).join("nft")))
        {
            // The system directories still count: found there, not in the empty PATH.
            assert!(!found.unwrap().starts_with(empty.path()));
            return;
        }
        let Err(LossError::Unsupported(why)) = found else {
            panic!("{found:?}");
        };
        assert!(why.contains("`nft`") && why.contains("apt-get install nftables"));
    }

    #[test]
    fn nft_is_found_first_in_path() {
        let directory = tempfile::tempdir().unwrap();
        let fake = directory.path().join("nft");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(find_nft(Some(directory.path().as_os_str())), Ok(fake));
    }

    #[test]
    fn a_kernel_without_nf_tables_is_an_unsupported_host() {
        let LossError::Unsupported(why) =
            explain("Error: Could not process rule: Operation not supported")
        else {
            panic!()
        };
        assert!(why.contains("modprobe nf_tables"), "{why}");
        assert!(matches!(
            explain("Error: syntax error"),
            LossError::Failed(_)
        ));
    }

    #[test]
    fn a_loss_drops_below_its_share_of_a_million() {
        let json = serde_json::to_value(drop_rule(MetaKey::Iifname, "host2", 250_000)).unwrap();
        let comparison = &json["expr"][1]["match"];
        assert_eq!(comparison["op"], "<=", "{json}");
        assert_eq!(comparison["left"]["numgen"]["mod"], PER_MILLION, "{json}");
        assert_eq!(comparison["right"], 249_999, "{json}");
        assert_eq!(json["expr"][0]["match"]["right"], "host2", "{json}");
        // A loss of one drops every frame of the port, with no comparison.
        let json = serde_json::to_value(drop_rule(MetaKey::Oifname, "host2", PER_MILLION)).unwrap();
        assert_eq!(json["expr"].as_array().unwrap().len(), 2, "{json}");
    }

    #[test]
    fn every_loss_is_a_ruleset_nft_accepts() {
        // The ruleset of each kind of loss, checked by `nft --check` in a network namespace
        // of its own (nothing is applied), where this machine can.
        let Ok(nft) = find_nft(std::env::var_os("PATH").as_deref()) else {
            return;
        };
        for ppm in [1, PER_MILLION / 2, PER_MILLION] {
            let ports = [("host1".to_owned(), ppm), ("host2".to_owned(), 7)];
            let payload = serde_json::to_string(&ruleset(&ports).to_nftables()).unwrap();
            let output = Command::new("unshare")
                .args(["--user", "--map-root-user", "--net"])
                .arg(&nft)
                .args(["--check", "-j", "-f", "-"])
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    child.stdin.take().unwrap().write_all(payload.as_bytes())?;
                    child.wait_with_output()
                })
                .unwrap();
            assert!(
                output.status.success(),
                "{ppm}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
