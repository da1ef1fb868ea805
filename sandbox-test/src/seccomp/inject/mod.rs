//! Fault injection: chosen syscalls fail with an errno, return a value without running,
//! or run late — `inject(syscall = "write", errno = "ENOSPC", when = "3+", path = "/x/*")`.
//!
//! * the parent resolves each rule's syscalls, and weaves the injection into the policy's
//!   compiled filter (`bpf`): the injected calls the policy *allows* stop with
//!   `SECCOMP_RET_USER_NOTIF`;
//! * the notification supervisor (`record::supervise`) hands them to an `Injector`
//!   (`injector`), which reads the call's path (`target`), keeps each rule's count, sends
//!   an [`Injection`] report and answers: the errno, the return value, or — after the
//!   delay, without holding up other calls — `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
//!
//! # Precedence
//! 1. The policy first (`seccomp(...)`, or the baseline): a call it refuses (trap, kill,
//!    errno, errno mode, a profile's errno default) is refused as it says and is never
//!    injected, nor counted.
//! 2. Calls it allows (record mode: records) go to the rules, in the order given. Every
//!    rule whose syscall and `path` match counts the call; the first of those whose `when`
//!    hits injects its fault. The others let the call run.
//! 3. Never injected: `exit`, `exit_group`, `rt_sigreturn`, and `sendmsg`/`sendto` on the
//!    harness's channel (the verdict must get out).
//!
//! The filter is inherited across fork and exec, so injection reaches every subprocess;
//! counts are shared by all processes of the sandbox (one supervisor keeps them).

mod bpf;
mod injector;
mod target;

use std::fmt;
use std::time::Duration;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use super::compile::CompiledFilter;
use super::groups::{native_arch, resolve, resolve_names, syscall_name};
use super::{SeccompError, CHANNEL_ONLY};
use crate::spec::inject::{check_injectable, NEVER_INJECTED};
pub use crate::spec::inject::{InjectSpecError, When};
use crate::spec::seccomp::{errno_name, SyscallItem};
pub(crate) use injector::Injector;

/// What an injected call does instead of its usual work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// The call is not executed and fails with this errno (`errno = "ENOSPC"`).
    Errno(#[serde(with = "errno_number")] Errno),
    /// The call is not executed and returns this value (`retval = 3`, e.g. a short write).
    Retval(i64),
    /// The call is executed after this delay (`delay = "300ms"`).
    Delay(Duration),
}

mod errno_number {
    use nix::errno::Errno;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(errno: &Errno, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(*errno as i32)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Errno, D::Error> {
        Ok(Errno::from_raw(i32::deserialize(d)?))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Errno(e) => match errno_name(*e as i32) {
                Some(name) => write!(f, "errno = \"{name}\""),
                None => write!(f, "errno = {}", *e as i32),
            },
            Fault::Retval(v) => write!(f, "retval = {v}"),
            Fault::Delay(d) => write!(f, "delay = \"{}ms\"", d.as_millis()),
        }
    }
}

/// One `inject(...)` rule: which calls, which fault, which of the matching calls.
///
/// ```no_run
/// use sandbox_test::{Errno, Fault, Inject, Sandbox, When};
///
/// # fn main() -> Result<(), sandbox_test::seccomp::SeccompError> {
/// let sandbox = Sandbox::new().inject(
///     Inject::new("write", Fault::Errno(Errno::ENOSPC))
///         .when(When::from_nth(3))
///         .path("/tmp/app/*"),
/// )?;
/// # let _ = sandbox;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inject {
    pub(crate) syscall: String,
    pub(crate) fault: Fault,
    pub(crate) when: When,
    pub(crate) path: Option<String>,
}

impl Inject {
    /// Injects `fault` into every call of `syscall`: a name or an `@group`, as in
    /// `seccomp(...)`.
    pub fn new(syscall: impl Into<String>, fault: Fault) -> Self {
        Self {
            syscall: syscall.into(),
            fault,
            when: When::every_call(),
            path: None,
        }
    }

    /// Only these of the matching calls (default: every one).
    pub fn when(mut self, when: When) -> Self {
        self.when = when;
        self
    }

    /// Only calls on a file matching this glob (`*` stays within one path component, `**`
    /// crosses them): the path argument, made absolute against the caller's cwd or dirfd,
    /// or for calls on a descriptor what `/proc/PID/fd/N` names. Only matching calls count
    /// toward [`when`](Inject::when).
    pub fn path(mut self, glob: impl Into<String>) -> Self {
        self.path = Some(glob.into());
        self
    }

    /// Checks the syscall's shape and the glob (what can be known before resolving).
    pub(crate) fn check(&self) -> Result<(), String> {
        let item = SyscallItem::parse(&self.syscall).map_err(|e| e.to_string())?;
        if let SyscallItem::Syscall(name) = &item {
            check_injectable(name).map_err(|e| e.to_string())?;
        }
        if let Some(glob) = &self.path {
            glob::Pattern::new(glob).map_err(|e| format!("bad path glob `{glob}`: {e}"))?;
        }
        if self.fault == Fault::Delay(Duration::ZERO) {
            return Err("a delay of zero injects nothing".into());
        }
        Ok(())
    }
}

impl fmt::Display for Inject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inject(syscall = \"{}\", {}", self.syscall, self.fault)?;
        if self.when != When::every_call() {
            write!(f, ", when = \"{}\"", self.when)?;
        }
        if let Some(path) = &self.path {
            write!(f, ", path = \"{path}\"")?;
        }
        f.write_str(")")
    }
}

/// One injected fault, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// The rule's place among the test's `inject(...)`, from 0.
    pub rule: usize,
    /// The rule as written (`inject(syscall = "write", errno = "ENOSPC")`).
    pub rule_text: String,
    /// Which of the rule's matching calls this was, from 1.
    pub call: u64,
    /// The syscall's name.
    pub syscall: String,
    /// The syscall's number.
    pub nr: i32,
    /// The calling process, in the sandbox's pid namespace.
    pub pid: i32,
    /// The six raw arguments.
    pub args: [u64; 6],
    /// The arguments as strace prints them ([`crate::seccomp::decode`]), strings read
    /// from the caller's memory.
    pub decoded: Vec<String>,
    /// The file the call worked on, when the syscall takes a path or a descriptor and it
    /// could be read.
    pub path: Option<String>,
    /// What the call got instead.
    pub fault: Fault,
    /// Symbolized frames, innermost first, for a call of the body's own code (its threads
    /// included) that got an `errno` or a `retval` (the SIGSYS that takes the stack would
    /// cut a delayed call short); otherwise empty.
    pub backtrace: Vec<super::report::Frame>,
}

impl Injection {
    /// The first frame in the test author's code.
    pub fn user_frame(&self) -> Option<&super::report::Frame> {
        self.backtrace.iter().find(|f| f.is_user_code())
    }
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "injected {} into `{}` in pid {} (matching call {} of rule {}: {})",
            self.fault, self.syscall, self.pid, self.call, self.rule, self.rule_text
        )?;
        if !self.decoded.is_empty() {
            write!(f, "\n  {}({})", self.syscall, self.decoded.join(", "))?;
        }
        if let Some(path) = &self.path {
            write!(f, "\n  on {path}")?;
        }
        if let Some(loc) = self.user_frame().and_then(super::report::Frame::location) {
            write!(f, "\n  at {loc}")?;
        }
        super::report::write_args(f, &self.args)
    }
}

/// An injected fault as the supervisor reports it (names are resolved in the parent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RawInjection {
    pub rule: usize,
    pub rule_text: String,
    pub call: u64,
    pub pid: i32,
    /// The calling thread, for the stack that may follow.
    pub tid: i32,
    pub arch: u32,
    pub nr: i32,
    pub args: [u64; 6],
    pub decoded: Vec<String>,
    pub path: Option<String>,
    pub fault: Fault,
}

impl RawInjection {
    pub(crate) fn resolve(&self) -> Injection {
        Injection {
            rule: self.rule,
            rule_text: self.rule_text.clone(),
            call: self.call,
            syscall: syscall_name(self.arch, self.nr).unwrap_or_else(|| "?".into()),
            nr: self.nr,
            pid: self.pid,
            args: self.args,
            decoded: self.decoded.clone(),
            path: self.path.clone(),
            fault: self.fault,
            backtrace: Vec::new(),
        }
    }
}

/// A rule ready for the supervisor: syscall numbers with their argument layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PlannedRule {
    pub text: String,
    pub syscalls: Vec<(i32, Option<target::Target>)>,
    pub fault: Fault,
    /// `When` by its parts (first, last, step).
    pub when: (u64, Option<u64>, u64),
    pub path: Option<String>,
}

/// What the supervisor needs to inject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InjectPlan {
    pub rules: Vec<PlannedRule>,
    /// The policy's own program, when the policy notifies too: run on a notified call to
    /// tell the policy's notifications from the injections. Empty otherwise.
    #[serde(with = "super::compile::hex")]
    pub policy_bpf: Vec<u8>,
}

fn resolve_rule(index: usize, rule: &Inject) -> Result<PlannedRule, SeccompError> {
    let invalid = |problem: String| SeccompError::Inject {
        rule: rule.to_string(),
        problem,
    };
    rule.check().map_err(invalid)?;
    let item = SyscallItem::parse(&rule.syscall)?;
    let plain = matches!(item, SyscallItem::Syscall(_));
    let resolved = resolve(std::slice::from_ref(&item))?;
    let mut syscalls = Vec::new();
    for (name, nr) in resolved.syscalls {
        if NEVER_INJECTED.contains(&name.as_str()) {
            super::debug_note(&format!("inject rule {index}: `{name}` is never injected"));
            continue;
        }
        let layout = target::target(&name);
        if rule.path.is_some() && layout.is_none() {
            if plain {
                return Err(invalid(format!(
                    "`{name}` takes no path or descriptor, so `path` cannot apply to it"
                )));
            }
            super::debug_note(&format!(
                "inject rule {index}: `{name}` takes no path: it never matches `path`"
            ));
            continue;
        }
        syscalls.push((nr, layout));
    }
    if syscalls.is_empty() {
        return Err(invalid(
            "no syscall of this machine is left to inject".into(),
        ));
    }
    Ok(PlannedRule {
        text: rule.to_string(),
        syscalls,
        fault: rule.fault,
        when: rule.when.parts(),
        path: rule.path.clone(),
    })
}

/// Checks a rule as far as it can be before a run: its shape, and its syscalls against the
/// running libseccomp.
pub(crate) fn check(rule: &Inject) -> Result<(), SeccompError> {
    resolve_rule(0, rule).map(drop)
}

/// In the parent: the policy's compiled filter (`None`: `seccomp = "off"`) with the rules
/// woven in. Without rules, the filter is returned as it is.
pub(crate) fn weave(
    filter: Option<CompiledFilter>,
    rules: &[Inject],
) -> Result<Option<CompiledFilter>, SeccompError> {
    if rules.is_empty() {
        return Ok(filter);
    }
    let rules: Vec<PlannedRule> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| resolve_rule(i, r))
        .collect::<Result<_, _>>()?;
    let mut syscalls: Vec<i32> = rules
        .iter()
        .flat_map(|r| r.syscalls.iter().map(|(nr, _)| *nr))
        .collect();
    syscalls.sort_unstable();
    syscalls.dedup();
    let channel_only: Vec<i32> = resolve_names(CHANNEL_ONLY)?
        .into_iter()
        .map(|(_, nr)| nr)
        .collect();
    let mut out = filter.unwrap_or_default();
    let policy = bpf::decode(&out.bpf);
    let woven = bpf::weave(
        &policy,
        &bpf::Targets {
            arch: native_arch(),
            syscalls: &syscalls,
            channel_only: &channel_only,
            channel: crate::step::CHANNEL_FD as u32,
        },
    )
    .map_err(SeccompError::Compile)?;
    let policy_bpf = if out.notify.is_some() {
        std::mem::take(&mut out.bpf)
    } else {
        Vec::new()
    };
    out.bpf = bpf::encode(&woven);
    out.inject = Some(InjectPlan { rules, policy_bpf });
    Ok(Some(out))
}

#[cfg(test)]
mod tests;
