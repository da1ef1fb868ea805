//! A [`Policy`] compiled to BPF with libseccomp, in the parent, once per distinct policy.
//!
//! Only the native architecture is admitted: libseccomp's bad-arch action ends i386
//! (`int 0x80`) calls, and on x86_64 its generated code sends every syscall number with
//! the x32 bit (`>= 0x40000000`) to the same action, so x32 calls never execute either.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::sync::{Arc, Mutex, OnceLock};

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use serde::{Deserialize, Serialize};

use super::groups::{resolve, resolve_names};
use super::policy::{OnViolation, Policy, Rules};
use super::profile::{self, Action};
use super::{debug_note, SeccompError, CHANNEL_ONLY, HARNESS_SYSCALLS};
use crate::spec::seccomp::SyscallItem;
use crate::spec::seccomp::BASELINE_DENY;

const EPERM: i32 = libc::EPERM;

/// What the supervisor does with a notified syscall. Every violation of a `deny`/`allow`
/// list goes through it, whichever process makes the call: it sees the caller's pid and
/// arguments and can read the caller's memory and command line, which a kernel-side
/// trap or kill cannot report for a process that has exec'd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotifyReply {
    /// errno mode: fail the call with this errno, and report it as a violation.
    Errno(i32),
    /// fail mode: report the call and end the test (`Outcome::SeccompViolation`).
    Fail,
    /// kill mode: report the call and kill the caller and the body
    /// (`Outcome::KilledBySeccomp`).
    Kill,
    /// record mode: let the call run, and record it.
    Continue,
    /// A profile: what its rules say about the call (`CompiledFilter::as_written`, run by
    /// the supervisor): an errno, fail (a trap) or kill.
    AsWritten,
}

impl NotifyReply {
    /// What a filter's `SECCOMP_RET_*` value means for a notified call (a profile as
    /// written, see [`NotifyReply::AsWritten`]).
    pub(crate) fn from_action(ret: u32) -> Self {
        match ret & libc::SECCOMP_RET_ACTION_FULL {
            libc::SECCOMP_RET_ERRNO => Self::Errno((ret & libc::SECCOMP_RET_DATA) as i32),
            libc::SECCOMP_RET_KILL_PROCESS | libc::SECCOMP_RET_KILL_THREAD => Self::Kill,
            libc::SECCOMP_RET_ALLOW | libc::SECCOMP_RET_LOG => Self::Continue,
            // No tracer is ever attached: the kernel would answer ENOSYS.
            libc::SECCOMP_RET_TRACE => Self::Errno(libc::ENOSYS),
            _ => Self::Fail,
        }
    }
}

/// A filter ready to load: BPF bytes and what the child must set up around them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledFilter {
    /// `struct sock_filter[]`, hex encoded (readable wherever the filter is serialized).
    #[serde(with = "hex")]
    pub bpf: Vec<u8>,
    /// seccomp(2) flags (from a profile's `flags`), without NEW_LISTENER.
    pub flags: u32,
    /// Some rule notifies: run the supervisor that answers with this.
    pub notify: Option<NotifyReply>,
    /// [`NotifyReply::AsWritten`]: the profile's filter with its own actions, which the
    /// supervisor runs on a notified call.
    #[serde(with = "hex")]
    pub as_written: Vec<u8>,
    /// Names skipped while compiling (unknown to libseccomp or not native).
    pub skipped: Vec<String>,
    /// `inject(...)` rules woven into `bpf`: the supervisor answers them.
    #[serde(default)]
    pub inject: Option<super::inject::InjectPlan>,
}

impl CompiledFilter {
    /// Number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.bpf.len() / std::mem::size_of::<libc::sock_filter>()
    }
}

/// Bytes as hex text in a human-readable format (JSON, where a filter is read by people),
/// as plain bytes in a binary one (the plan's postcard, decoded in every sandbox).
pub(crate) mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return s.serialize_bytes(bytes);
        }
        use std::fmt::Write;
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            let _ = write!(out, "{b:02x}");
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if !d.is_human_readable() {
            return <Vec<u8> as serde_bytes::Deserialize>::deserialize(d);
        }
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd hex length"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// What the supervisor does with a violation of a `deny`/`allow` list (the filter
/// notifies it in every mode).
fn violation_reply(rules: &Rules) -> NotifyReply {
    match rules.on_violation {
        OnViolation::Fail => NotifyReply::Fail,
        OnViolation::Errno(errno) => NotifyReply::Errno(errno as i32),
        OnViolation::Kill => NotifyReply::Kill,
    }
}

struct Builder {
    ctx: ScmpFilterContext,
    out: CompiledFilter,
    /// Some rule (or the default) notifies.
    notifies: bool,
}

fn libseccomp(e: libseccomp::error::SeccompError) -> SeccompError {
    SeccompError::Compile(e.to_string())
}

impl Builder {
    fn new(default: ScmpAction, badarch: ScmpAction) -> Result<Self, SeccompError> {
        let mut ctx = ScmpFilterContext::new(default).map_err(libseccomp)?;
        ctx.set_act_badarch(badarch).map_err(libseccomp)?;
        // A binary tree sorted by syscall number (libseccomp 2.5): O(log n) instructions
        // per call instead of one test per rule. The kernel runs the filter once per
        // syscall number when it loads it (to cache the calls it always allows), so a
        // Docker-size profile loads several times faster; an older libseccomp keeps its
        // default order.
        let _ = ctx.set_ctl_optimize(2);
        let mut b = Self {
            ctx,
            out: CompiledFilter::default(),
            notifies: false,
        };
        b.note(default);
        b.note(badarch);
        Ok(b)
    }

    fn note(&mut self, action: ScmpAction) {
        self.notifies |= action == ScmpAction::Notify;
    }

    fn rule(
        &mut self,
        action: ScmpAction,
        nr: i32,
        conditions: &[ScmpArgCompare],
    ) -> Result<(), libseccomp::error::SeccompError> {
        self.note(action);
        let nr = ScmpSyscall::from(nr);
        if conditions.is_empty() {
            self.ctx.add_rule(action, nr)?;
        } else {
            self.ctx.add_rule_conditional(action, nr, conditions)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<CompiledFilter, SeccompError> {
        let mut file = crate::kernel::anonymous_file(c"sandbox-test-bpf")
            .map_err(|e| SeccompError::Compile(format!("memfd_create: {e}")))?;
        self.ctx.export_bpf(&file).map_err(libseccomp)?;
        let read = file
            .rewind()
            .and_then(|()| file.read_to_end(&mut self.out.bpf));
        read.map_err(|e| SeccompError::Compile(format!("reading the exported BPF: {e}")))?;
        Ok(self.out)
    }
}

/// Clone flags that create namespaces (not CLONE_NEWTIME: in clone's flags that bit is
/// part of CSIGNAL).
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];
/// The highest default persona: PER_LINUX32 | UNAME26.
const DEFAULT_PERSONAS_MAX: u64 = 0x0002_0008;

/// `personality(0xffffffff)` reads the persona without changing it.
const PERSONALITY_QUERY: u64 = 0xffff_ffff;
/// ioctl requests that put bytes into a terminal's input: TIOCSTI, TIOCLINUX.
// The request type is `c_ulong` on glibc and `c_int` on musl.
#[allow(clippy::unnecessary_cast)]
const TERMINAL_INJECTION: [u64; 2] = [libc::TIOCSTI as u64, libc::TIOCLINUX as u64];

fn baseline() -> Result<CompiledFilter, SeccompError> {
    let eperm = ScmpAction::Errno(EPERM);
    let mut b = Builder::new(ScmpAction::Allow, eperm)?;
    // Plain names here may be unknown to an old libseccomp: skip those, don't fail.
    for name in BASELINE_DENY {
        match super::groups::lookup(name) {
            super::groups::Lookup::Native(nr) => b.rule(eperm, nr, &[]).map_err(libseccomp)?,
            _ => {
                debug_note(&format!("baseline: `{name}` unknown here: skipped"));
                b.out.skipped.push((*name).to_owned());
            }
        }
    }
    let [clone, clone3, personality, ioctl] =
        ["clone", "clone3", "personality", "ioctl"].map(|n| match super::groups::lookup(n) {
            super::groups::Lookup::Native(nr) => Some(nr),
            _ => None,
        });
    // Nested namespace creation with clone: one rule per flag bit (rules are ORed).
    // (`unshare` and `setns` are in BASELINE_DENY outright.)
    if let Some(nr) = clone {
        for &bit in NAMESPACE_FLAGS {
            let cond = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(bit), bit);
            b.rule(eperm, nr, &[cond]).map_err(libseccomp)?;
        }
    }
    // clone3 passes its flags in memory, out of the filter's reach: ENOSYS makes libc
    // fall back to clone, whose flags are checked above (as Docker does).
    if let Some(nr) = clone3 {
        b.rule(ScmpAction::Errno(libc::ENOSYS), nr, &[])
            .map_err(libseccomp)?;
    }
    if let Some(nr) = personality {
        let cond = ScmpArgCompare::new(0, ScmpCompareOp::Greater, DEFAULT_PERSONAS_MAX);
        b.rule(eperm, nr, &[cond]).map_err(libseccomp)?;
        // The query (0xffffffff) changes nothing. libseccomp takes one comparison per
        // argument in a rule and no rule with the default action (allow), so the exact
        // match is a rule of its own whose action lets the call run: `log` (libseccomp's
        // code tests the exact match before the range; the call runs and is audit-logged).
        let query = ScmpArgCompare::new(0, ScmpCompareOp::Equal, PERSONALITY_QUERY);
        b.rule(ScmpAction::Log, nr, &[query]).map_err(libseccomp)?;
    }
    // Pushing input into a terminal, or TIOCLINUX's selection paste: the terminal's user
    // would run what the body typed (CVE-2017-5226). The request is an `unsigned int`: only
    // its low 32 bits are compared, as the kernel reads them.
    if let Some(nr) = ioctl {
        for request in TERMINAL_INJECTION {
            let cond = ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xffff_ffff), request);
            b.rule(eperm, nr, &[cond]).map_err(libseccomp)?;
        }
    }
    b.finish()
}

/// The descriptor the harness reports on in the body (see `setup.rs`).
fn channel_fd() -> u64 {
    crate::step::CHANNEL_FD as u64
}

/// Adds the harness's own calls as allowed, except those in `except` (the policy
/// decides them itself). sendmsg/sendto only on the channel.
fn allow_harness(b: &mut Builder, except: &[i32]) -> Result<(), SeccompError> {
    for (name, nr) in resolve_names(HARNESS_SYSCALLS)? {
        if except.contains(&nr) {
            continue;
        }
        let on_channel = [ScmpArgCompare::new(0, ScmpCompareOp::Equal, channel_fd())];
        let conditions: &[ScmpArgCompare] = if CHANNEL_ONLY.contains(&name.as_str()) {
            &on_channel
        } else {
            &[]
        };
        b.rule(ScmpAction::Allow, nr, conditions)
            .map_err(libseccomp)?;
    }
    Ok(())
}

fn deny(rules: &Rules) -> Result<CompiledFilter, SeccompError> {
    let resolved = resolve(&rules.items)?;
    let action = ScmpAction::Notify;
    let mut b = Builder::new(ScmpAction::Allow, action)?;
    b.out.notify = Some(violation_reply(rules));
    b.out.skipped = resolved.skipped;
    for (name, nr) in &resolved.syscalls {
        if CHANNEL_ONLY.contains(&name.as_str()) {
            // Denied everywhere but on the channel the harness reports on.
            let elsewhere = ScmpArgCompare::new(0, ScmpCompareOp::NotEqual, channel_fd());
            b.rule(action, *nr, &[elsewhere]).map_err(libseccomp)?;
        } else if HARNESS_SYSCALLS.contains(&name.as_str()) {
            if rules.items.contains(&SyscallItem::Syscall(name.clone())) {
                return Err(SeccompError::HarnessNeeds { name: name.clone() });
            }
            debug_note(&format!("`{name}` stays allowed: the harness needs it"));
            b.out.skipped.push(name.clone());
        } else {
            b.rule(action, *nr, &[]).map_err(libseccomp)?;
        }
    }
    b.finish()
}

fn allow(rules: &Rules) -> Result<CompiledFilter, SeccompError> {
    let resolved = resolve(&rules.items)?;
    let action = ScmpAction::Notify;
    let mut b = Builder::new(action, action)?;
    b.out.notify = Some(violation_reply(rules));
    let mut listed = Vec::new();
    for (_, nr) in &resolved.syscalls {
        b.rule(ScmpAction::Allow, *nr, &[]).map_err(libseccomp)?;
        listed.push(*nr);
    }
    allow_harness(&mut b, &listed)?;
    b.out.skipped = resolved.skipped;
    b.finish()
}

fn scmp(action: Action) -> ScmpAction {
    match action {
        Action::Allow => ScmpAction::Allow,
        Action::Errno(e) => ScmpAction::Errno(i32::from(e)),
        Action::KillThread => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        Action::Trace(m) => ScmpAction::Trace(m),
        Action::Log => ScmpAction::Log,
    }
}

/// A profile is loaded so that the supervisor sees every call it does not simply allow
/// or answer: where the profile traps, kills, or answers by default with an errno, the
/// loaded filter notifies; the supervisor runs the profile as written (`as_written`) on
/// the notified call to learn what it says, reports the call whichever process made it,
/// and does that. A rule's own errno stays in the kernel (deliberate answers such as
/// Docker's `clone3` → ENOSYS are not violations).
fn profile(path: &std::path::Path) -> Result<CompiledFilter, SeccompError> {
    let evaluated = profile::load(path)?;
    let loaded = profile_filter(path, &evaluated, true)?;
    if !loaded.notifies {
        // Nothing notifies: the loaded filter is the profile as written.
        return loaded.finish();
    }
    let mut loaded = loaded.finish()?;
    loaded.notify = Some(NotifyReply::AsWritten);
    loaded.as_written = profile_filter(path, &evaluated, false)?.finish()?.bpf;
    Ok(loaded)
}

/// The profile's filter; `notify`: with its traps, kills and errno default turned into
/// notifications.
fn profile_filter(
    path: &std::path::Path,
    evaluated: &profile::Evaluated,
    notify: bool,
) -> Result<Builder, SeccompError> {
    let notified = |action: Action, default: bool| match action {
        Action::Trap | Action::KillThread | Action::KillProcess if notify => ScmpAction::Notify,
        Action::Errno(_) if notify && default => ScmpAction::Notify,
        other => scmp(other),
    };
    let default = notified(evaluated.default, true);
    let badarch = if default == ScmpAction::Allow {
        ScmpAction::Errno(EPERM)
    } else {
        default
    };
    let mut b = Builder::new(default, badarch)?;
    b.out.flags = evaluated.flags;
    b.out.skipped = evaluated.skipped.clone();
    for rule in &evaluated.rules {
        for (name, nr) in &rule.syscalls {
            b.rule(notified(rule.action, false), *nr, &rule.conditions)
                .map_err(|e| SeccompError::ProfileRule {
                    path: path.to_owned(),
                    index: rule.index,
                    problem: format!("libseccomp refused the rule for `{name}`: {e}"),
                })?;
        }
    }
    if default != ScmpAction::Allow {
        let mentioned: Vec<i32> = evaluated
            .rules
            .iter()
            .flat_map(|r| r.syscalls.iter().map(|(_, nr)| *nr))
            .collect();
        allow_harness(&mut b, &mentioned)?;
    }
    Ok(b)
}

fn record() -> Result<CompiledFilter, SeccompError> {
    let mut b = Builder::new(ScmpAction::Notify, ScmpAction::Errno(EPERM))?;
    allow_harness(&mut b, &[])?;
    b.out.notify = Some(NotifyReply::Continue);
    b.finish()
}

/// Compiles without the cache.
pub fn compile_uncached(policy: &Policy) -> Result<Option<CompiledFilter>, SeccompError> {
    Ok(Some(match policy {
        Policy::Off => return Ok(None),
        Policy::Baseline => baseline()?,
        Policy::Deny(rules) => deny(rules)?,
        Policy::Allow(rules) => allow(rules)?,
        Policy::Profile(path) => profile(path)?,
        Policy::Record(_) => record()?,
    }))
}

type Cache = HashMap<(Policy, Option<Vec<u8>>), Option<Arc<CompiledFilter>>>;

/// Compiles `policy` (`None` for `off`), once per distinct policy in this process; a
/// profile is keyed by its contents too, so an edited file is compiled again.
pub fn compile(policy: &Policy) -> Result<Option<Arc<CompiledFilter>>, SeccompError> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let contents = match policy {
        Policy::Profile(path) => {
            Some(
                std::fs::read(path).map_err(|source| SeccompError::ProfileRead {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        _ => None,
    };
    let key = (policy.clone(), contents);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(hit.clone());
    }
    let compiled = compile_uncached(policy)?.map(Arc::new);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, compiled.clone());
    Ok(compiled)
}
