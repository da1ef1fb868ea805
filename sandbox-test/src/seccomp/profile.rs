//! Docker/OCI seccomp profiles (the JSON of `docker run --security-opt seccomp=...` and of
//! the OCI runtime spec's `linux.seccomp`).
//!
//! Every field is read. The profile is evaluated against the sandbox the body runs in:
//! * `architectures`/`archMap`: only the native architecture is ever admitted (i386 and x32
//!   calls never execute), so the list must contain it and other entries are ignored;
//! * `includes`/`excludes`: `caps` against the body's capabilities, which are none after
//!   the drop; `arches` against the native arch (Docker's Go names: amd64, arm64, ...);
//!   `minKernel` against `uname -r`;
//! * `syscalls[].args`: all conditions of one rule are ANDed (one libseccomp rule);
//! * actions are honoured as written. `SCMP_ACT_NOTIFY` needs an external seccomp agent
//!   (`listenerPath`) and is refused with an error.

use std::path::{Path, PathBuf};

use libseccomp::{ScmpArgCompare, ScmpCompareOp};
use serde::{Deserialize, Serialize};

use super::groups::{lookup, Lookup};
use super::{debug_note, SeccompError};
use crate::kernel::parse_version as parse_kernel;

/// Docker writes `null` for empty lists.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A profile as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The action for calls no rule matches.
    pub default_action: String,
    /// The errno of a `SCMP_ACT_ERRNO` default action (EPERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Architectures the profile covers (`SCMP_ARCH_*`).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub architectures: Vec<String>,
    /// Architectures with their sub-architectures.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arch_map: Vec<ArchMap>,
    /// seccomp(2) filter flags (`SECCOMP_FILTER_FLAG_*`).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<String>,
    /// The seccomp agent's socket for `SCMP_ACT_NOTIFY` (not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    /// Opaque data for the seccomp agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    /// The rules, in order.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub syscalls: Vec<SyscallRule>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// `SCMP_ARCH_*`.
    pub architecture: String,
    /// `SCMP_ARCH_*` run by the same kernel (e.g. X86 and X32 on X86_64).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sub_architectures: Vec<String>,
}

/// One `syscalls[]` rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    /// The syscalls (current layout).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub names: Vec<String>,
    /// One syscall (the older layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `SCMP_ACT_*`.
    pub action: String,
    /// The errno of `SCMP_ACT_ERRNO` (EPERM when absent), the message of `SCMP_ACT_TRACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions, all ANDed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Arg>>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The rule applies only if all these hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Condition>,
    /// The rule is skipped if any of these holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Condition>,
}

/// One argument condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    /// Argument index, 0..=5.
    pub index: u32,
    /// The compared value (the mask for `SCMP_CMP_MASKED_EQ`).
    pub value: u64,
    /// The datum for `SCMP_CMP_MASKED_EQ`.
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_*`.
    pub op: String,
}

/// `includes` / `excludes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Docker's architecture names (amd64, arm64, x86, x32, ...).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arches: Vec<String>,
    /// Capabilities (`CAP_*`).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub caps: Vec<String>,
    /// A kernel version, `major.minor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// The largest errno libseccomp accepts in an ERRNO action.
const MAX_ERRNO: u16 = 4094;

/// An action, as libseccomp needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run the call (`SCMP_ACT_ALLOW`).
    Allow,
    /// Fail the call with this errno (`SCMP_ACT_ERRNO`).
    Errno(u16),
    /// Kill the calling thread (`SCMP_ACT_KILL_THREAD`, also `SCMP_ACT_KILL`).
    KillThread,
    /// Kill the whole process (`SCMP_ACT_KILL_PROCESS`).
    KillProcess,
    /// Send `SIGSYS` (`SCMP_ACT_TRAP`): a violation the body reports.
    Trap,
    /// Notify a ptrace tracer with this value (`SCMP_ACT_TRACE`).
    Trace(u16),
    /// Run the call and log it (`SCMP_ACT_LOG`).
    Log,
}

impl Action {
    /// Parses `SCMP_ACT_*` with its `errnoRet`.
    fn parse(name: &str, ret: Option<u32>) -> Result<Self, String> {
        let data = |what: &str| -> Result<u16, String> {
            match ret {
                None => Ok(1),
                Some(v) => {
                    u16::try_from(v).map_err(|_| format!("{what} {v} is out of range (0..=65535)"))
                }
            }
        };
        Ok(match name {
            "SCMP_ACT_ALLOW" => Self::Allow,
            // The kernel caps a filter's errno at 4095 and libseccomp refuses more than
            // 4094: larger values (moby's example uses 12345) are capped at 4094.
            "SCMP_ACT_ERRNO" => Self::Errno(data("errnoRet")?.min(MAX_ERRNO)),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Self::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Self::KillProcess,
            "SCMP_ACT_TRAP" => Self::Trap,
            "SCMP_ACT_TRACE" => Self::Trace(data("errnoRet (trace message)")?),
            "SCMP_ACT_LOG" => Self::Log,
            "SCMP_ACT_NOTIFY" => {
                return Err(
                    "SCMP_ACT_NOTIFY needs an external seccomp agent (listenerPath), \
                            which sandbox-test does not run"
                        .into(),
                )
            }
            other => return Err(format!("unknown action `{other}`")),
        })
    }
}

/// A rule after evaluation against the sandbox, ready for libseccomp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatedRule {
    /// Index in `syscalls[]`, for errors.
    pub index: usize,
    /// Native syscalls, `(name, number)`.
    pub syscalls: Vec<(String, i32)>,
    /// What the rule does to a matching call.
    pub action: Action,
    /// ANDed conditions.
    pub conditions: Vec<ScmpArgCompare>,
}

/// A profile evaluated for this sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluated {
    /// The action for a call no rule matches (`defaultAction`).
    pub default: Action,
    /// The rules that apply to this architecture, in order.
    pub rules: Vec<EvaluatedRule>,
    /// seccomp(2) flags to load with.
    pub flags: u32,
    /// Names skipped (unknown to libseccomp, or not native), for the debug note and tests.
    pub skipped: Vec<String>,
}

/// What the profile's `includes`/`excludes` are evaluated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Docker's name of the native architecture (amd64, arm64, ...).
    pub arch: &'static str,
    /// libseccomp's name of it (`SCMP_ARCH_X86_64`, ...).
    pub scmp_arch: &'static str,
    /// The capabilities the body holds: none, after the drop.
    pub caps: Vec<String>,
    /// `(major, minor)` from uname.
    pub kernel: (u32, u32),
}

impl Environment {
    /// The body's environment: native arch, no capabilities, the running kernel.
    pub fn sandbox() -> Self {
        let (arch, scmp_arch) = if cfg!(target_arch = "x86_64") {
            ("amd64", "SCMP_ARCH_X86_64")
        } else if cfg!(target_arch = "aarch64") {
            ("arm64", "SCMP_ARCH_AARCH64")
        } else if cfg!(target_arch = "riscv64") {
            ("riscv64", "SCMP_ARCH_RISCV64")
        } else {
            (std::env::consts::ARCH, "SCMP_ARCH_NATIVE")
        };
        Self {
            arch,
            scmp_arch,
            caps: Vec::new(),
            kernel: crate::kernel::running_version(),
        }
    }
}

/// Reads and parses a profile file.
pub fn read(path: &Path) -> Result<Profile, SeccompError> {
    let text = std::fs::read(path).map_err(|source| SeccompError::ProfileRead {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| SeccompError::ProfileParse {
        path: path.to_owned(),
        source,
    })
}

fn flag_bit(name: &str) -> Option<u32> {
    Some(match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => libc::SECCOMP_FILTER_FLAG_TSYNC,
        "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        _ => return None,
    } as u32)
}

fn compare(arg: &Arg) -> Result<ScmpArgCompare, String> {
    if arg.index > 5 {
        return Err(format!("args index {} is out of range (0..=5)", arg.index));
    }
    let op = match arg.op.as_str() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        "SCMP_CMP_MASKED_EQ" => {
            return Ok(ScmpArgCompare::new(
                arg.index,
                ScmpCompareOp::MaskedEqual(arg.value),
                arg.value_two,
            ))
        }
        other => return Err(format!("unknown args op `{other}`")),
    };
    Ok(ScmpArgCompare::new(arg.index, op, arg.value))
}

impl Condition {
    fn kernel_at_least(&self, env: &Environment) -> Result<Option<bool>, String> {
        match &self.min_kernel {
            None => Ok(None),
            Some(text) => {
                let want = parse_kernel(text)
                    .filter(|_| text.chars().next().is_some_and(|c| c.is_ascii_digit()))
                    .ok_or_else(|| format!("minKernel `{text}` is not a kernel version"))?;
                Ok(Some(env.kernel >= want))
            }
        }
    }

    /// `includes`: every given criterion holds.
    fn includes(&self, env: &Environment) -> Result<bool, String> {
        let arch = self.arches.is_empty() || self.arches.iter().any(|a| a == env.arch);
        let caps = self.caps.iter().all(|c| env.caps.contains(c));
        let kernel = self.kernel_at_least(env)?.unwrap_or(true);
        Ok(arch && caps && kernel)
    }

    /// `excludes`: any given criterion holds.
    fn excludes(&self, env: &Environment) -> Result<bool, String> {
        let arch = self.arches.iter().any(|a| a == env.arch);
        let caps = self.caps.iter().any(|c| env.caps.contains(c));
        let kernel = self.kernel_at_least(env)?.unwrap_or(false);
        Ok(arch || caps || kernel)
    }
}

impl Profile {
    /// Evaluates the profile for `env`. Errors name the file (`path`), the rule index and
    /// the problem.
    pub fn evaluate(&self, path: &Path, env: &Environment) -> Result<Evaluated, SeccompError> {
        let whole = |problem: String| SeccompError::Profile {
            path: PathBuf::from(path),
            problem,
        };
        let rule_err = |index: usize, problem: String| SeccompError::ProfileRule {
            path: PathBuf::from(path),
            index,
            problem,
        };
        let default = Action::parse(&self.default_action, self.default_errno_ret)
            .map_err(|p| whole(format!("defaultAction: {p}")))?;

        let mut arches: Vec<&str> = self.architectures.iter().map(String::as_str).collect();
        for m in &self.arch_map {
            arches.push(&m.architecture);
            arches.extend(m.sub_architectures.iter().map(String::as_str));
        }
        if let Some(bad) = arches.iter().find(|a| !a.starts_with("SCMP_ARCH_")) {
            return Err(whole(format!("unknown architecture `{bad}`")));
        }
        if !arches.is_empty() && !arches.contains(&env.scmp_arch) {
            return Err(whole(format!(
                "the profile does not cover the native architecture {}",
                env.scmp_arch
            )));
        }

        let mut flags = 0;
        for flag in &self.flags {
            let bit = flag_bit(flag).ok_or_else(|| whole(format!("unknown flag `{flag}`")))?;
            if bit == libc::SECCOMP_FILTER_FLAG_TSYNC as u32 {
                // The filter is loaded before the body starts any thread, so TSYNC has
                // nothing to do; and the kernel refuses it next to a notification listener.
                debug_note("SECCOMP_FILTER_FLAG_TSYNC: the body is single-threaded at load");
                continue;
            }
            flags |= bit;
        }

        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        for (index, rule) in self.syscalls.iter().enumerate() {
            let action =
                Action::parse(&rule.action, rule.errno_ret).map_err(|p| rule_err(index, p))?;
            let mut names: Vec<&str> = rule.names.iter().map(String::as_str).collect();
            names.extend(rule.name.as_deref());
            if names.is_empty() {
                return Err(rule_err(index, "no `names` and no `name`".into()));
            }
            let args = rule.args.as_deref().unwrap_or(&[]);
            let conditions = args
                .iter()
                .map(compare)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|p| rule_err(index, p))?;
            for (i, a) in args.iter().enumerate() {
                if args[..i].iter().any(|b| b.index == a.index) {
                    return Err(rule_err(
                        index,
                        format!(
                            "two conditions on argument {}: libseccomp cannot AND them in one \
                             rule; split the rule",
                            a.index
                        ),
                    ));
                }
            }
            let included = match &rule.includes {
                Some(c) => c.includes(env).map_err(|p| rule_err(index, p))?,
                None => true,
            };
            let excluded = match &rule.excludes {
                Some(c) => c.excludes(env).map_err(|p| rule_err(index, p))?,
                None => false,
            };
            if !included || excluded {
                continue;
            }
            let mut syscalls = Vec::new();
            for name in names {
                match lookup(name) {
                    Lookup::Native(nr) => syscalls.push((name.to_owned(), nr)),
                    Lookup::OtherArch | Lookup::Unknown => {
                        debug_note(&format!(
                            "{}: syscalls[{index}]: `{name}` is not a native syscall known to \
                             libseccomp: skipped",
                            path.display()
                        ));
                        skipped.push(name.to_owned());
                    }
                }
            }
            if action == default || syscalls.is_empty() {
                // libseccomp refuses rules whose action is the default one; they change
                // nothing.
                continue;
            }
            rules.push(EvaluatedRule {
                index,
                syscalls,
                action,
                conditions,
            });
        }
        Ok(Evaluated {
            default,
            rules,
            flags,
            skipped,
        })
    }
}

/// Reads and evaluates a profile for the sandbox.
pub fn load(path: &Path) -> Result<Evaluated, SeccompError> {
    read(path)?.evaluate(path, &Environment::sandbox())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            arch: "amd64",
            scmp_arch: "SCMP_ARCH_X86_64",
            caps: Vec::new(),
            kernel: (6, 18),
        }
    }

    fn eval(json: &str) -> Result<Evaluated, SeccompError> {
        let p: Profile = serde_json::from_str(json).unwrap();
        p.evaluate(Path::new("t.json"), &env())
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("6.18.0-13-amd64"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("5"), Some((5, 0)));
        assert_eq!(parse_kernel("x"), None);
    }

    #[test]
    fn includes_and_excludes_follow_the_sandbox() {
        let e = eval(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
              {"names":["chmod"],"action":"SCMP_ACT_ALLOW"},
              {"names":["syslog"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYSLOG"]}},
              {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_ADMIN"]}},
              {"names":["getpid"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"99.0"}},
              {"names":["gettid"],"action":"SCMP_ACT_ALLOW","excludes":{"minKernel":"4.0"}},
              {"names":["uname"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}},
              {"names":["umask"],"action":"SCMP_ACT_ALLOW","excludes":{"arches":["amd64"]}},
              {"names":["sync"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}}
            ]}"#,
        )
        .unwrap();
        let names: Vec<_> = e
            .rules
            .iter()
            .flat_map(|r| r.syscalls.iter().map(|(n, _)| n.as_str()))
            .collect();
        assert_eq!(names, ["chmod", "ptrace", "sync"]);
    }

    #[test]
    fn errors_name_the_rule_and_the_problem() {
        let err = eval(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
              {"names":["read"],"action":"SCMP_ACT_ERRNO"},
              {"names":["write"],"action":"SCMP_ACT_EXPLODE"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("t.json"), "{err}");
        assert!(err.contains("syscalls[1]"), "{err}");
        assert!(err.contains("SCMP_ACT_EXPLODE"), "{err}");

        let err = eval(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
              {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("syscalls[0]") && err.contains("index 7"),
            "{err}"
        );

        let err =
            eval(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("no `names`"), "{err}");

        let err = eval(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("defaultAction") && err.contains("agent"),
            "{err}"
        );

        let err =
            eval(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64"]}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("native architecture"), "{err}");

        let err =
            eval(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_BOGUS"]}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("SECCOMP_FILTER_FLAG_BOGUS"), "{err}");
    }

    #[test]
    fn actions_and_errno_values() {
        let e = eval(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[
              {"name":"read","action":"SCMP_ACT_ALLOW"},
              {"name":"syslog","action":"SCMP_ACT_ERRNO","errnoRet":38},
              {"name":"mount","action":"SCMP_ACT_KILL_PROCESS"},
              {"name":"umount2","action":"SCMP_ACT_KILL"},
              {"name":"ptrace","action":"SCMP_ACT_TRAP"},
              {"name":"kill","action":"SCMP_ACT_TRACE","errnoRet":7},
              {"name":"tkill","action":"SCMP_ACT_LOG"},
              {"name":"clone","action":"SCMP_ACT_ALLOW","args":[
                {"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"},
                {"index":1,"value":0,"op":"SCMP_CMP_EQ"}]}
            ]}"#,
        )
        .unwrap();
        assert_eq!(e.default, Action::Errno(13));
        assert_eq!(e.flags, libc::SECCOMP_FILTER_FLAG_LOG as u32);
        let tsync = eval(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#)
            .unwrap();
        assert_eq!(tsync.flags, libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32);
        let actions: Vec<_> = e.rules.iter().map(|r| r.action).collect();
        assert_eq!(
            actions,
            [
                Action::Allow,
                Action::Errno(38),
                Action::KillProcess,
                Action::KillThread,
                Action::Trap,
                Action::Trace(7),
                Action::Log,
                Action::Allow
            ]
        );
        assert_eq!(e.rules[7].conditions.len(), 2);
    }
}
