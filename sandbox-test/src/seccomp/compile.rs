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

/// What a notified syscall is answered with by the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotifyReply {
    /// errno mode: fail the call with this errno, and report it as a violation.
    Errno(i32),
    /// record mode: let the call run, and record it.
    Continue,
}

/// A filter ready to load: BPF bytes and what the child must set up around them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledFilter {
    /// `struct sock_filter[]`, hex encoded (it travels in the JSON plan).
    #[serde(with = "hex")]
    pub bpf: Vec<u8>,
    /// seccomp(2) flags (from a profile's `flags`), without NEW_LISTENER.
    pub flags: u32,
    /// Some rule traps: install the SIGSYS handler that reports and ends the body.
    pub trap: bool,
    /// Some rule notifies: run the supervisor that answers with this.
    pub notify: Option<NotifyReply>,
    /// Some rule kills: a SIGSYS death is reported as killed by seccomp.
    pub kills: bool,
    /// Names skipped while compiling (unknown to libseccomp or not native).
    pub skipped: Vec<String>,
}

impl CompiledFilter {
    /// Number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.bpf.len() / std::mem::size_of::<libc::sock_filter>()
    }
}

mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        use std::fmt::Write;
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            let _ = write!(out, "{b:02x}");
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
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

/// The action for a violation of a `deny`/`allow` list.
fn violation_action(rules: &Rules) -> ScmpAction {
    match rules.on_violation {
        OnViolation::Fail => ScmpAction::Trap,
        OnViolation::Errno(_) => ScmpAction::Notify,
        OnViolation::Kill => ScmpAction::KillProcess,
    }
}

struct Builder {
    ctx: ScmpFilterContext,
    out: CompiledFilter,
}

fn libseccomp(e: libseccomp::error::SeccompError) -> SeccompError {
    SeccompError::Compile(e.to_string())
}

impl Builder {
    fn new(default: ScmpAction, badarch: ScmpAction) -> Result<Self, SeccompError> {
        let mut ctx = ScmpFilterContext::new(default).map_err(libseccomp)?;
        ctx.set_act_badarch(badarch).map_err(libseccomp)?;
        let mut b = Self {
            ctx,
            out: CompiledFilter {
                bpf: Vec::new(),
                flags: 0,
                trap: false,
                notify: None,
                kills: false,
                skipped: Vec::new(),
            },
        };
        b.note(default);
        b.note(badarch);
        Ok(b)
    }

    fn note(&mut self, action: ScmpAction) {
        match action {
            ScmpAction::Trap => self.out.trap = true,
            ScmpAction::KillProcess | ScmpAction::KillThread => self.out.kills = true,
            _ => {}
        }
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
    let action = violation_action(rules);
    let mut b = Builder::new(ScmpAction::Allow, action)?;
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
    if let OnViolation::Errno(errno) = rules.on_violation {
        b.out.notify = Some(NotifyReply::Errno(errno as i32));
    }
    b.finish()
}

fn allow(rules: &Rules) -> Result<CompiledFilter, SeccompError> {
    let resolved = resolve(&rules.items)?;
    let action = violation_action(rules);
    let mut b = Builder::new(action, action)?;
    let mut listed = Vec::new();
    for (_, nr) in &resolved.syscalls {
        b.rule(ScmpAction::Allow, *nr, &[]).map_err(libseccomp)?;
        listed.push(*nr);
    }
    allow_harness(&mut b, &listed)?;
    b.out.skipped = resolved.skipped;
    if let OnViolation::Errno(errno) = rules.on_violation {
        b.out.notify = Some(NotifyReply::Errno(errno as i32));
    }
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

fn profile(path: &std::path::Path) -> Result<CompiledFilter, SeccompError> {
    let evaluated = profile::load(path)?;
    // The default action answers calls outside the profile: an errno default goes
    // through the supervisor, which fails the call with the same errno and reports it, so
    // the test output names every call the profile refused.
    let (default, notify) = match evaluated.default {
        Action::Errno(e) => (ScmpAction::Notify, Some(NotifyReply::Errno(i32::from(e)))),
        other => (scmp(other), None),
    };
    let badarch = if default == ScmpAction::Allow {
        ScmpAction::Errno(EPERM)
    } else {
        default
    };
    let mut b = Builder::new(default, badarch)?;
    b.out.notify = notify;
    b.out.flags = evaluated.flags;
    b.out.skipped = evaluated.skipped;
    for rule in &evaluated.rules {
        for (name, nr) in &rule.syscalls {
            b.rule(scmp(rule.action), *nr, &rule.conditions)
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
    b.finish()
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
