//! The supervisor's side: decides and answers the injected calls.

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Instant;

use super::bpf;
use super::target::{self, display};
use super::{Fault, InjectPlan, RawInjection};
use crate::seccomp::bpf::Program;
use crate::seccomp::report::{AtTheCall, EventSink, SeccompEvent};
use crate::seccomp::violation::{arguments, is_bodys_own_code, still_waiting};
use crate::spec::inject::When;

/// Counts, globs and the calls held for a delay.
pub(crate) struct Injector<'a> {
    plan: &'a InjectPlan,
    /// The body process, whose own calls get their stack taken.
    body: i32,
    /// The policy's own program, when it notifies too.
    policy: Option<Program>,
    globs: Vec<Option<glob::Pattern>>,
    when: Vec<When>,
    counts: Vec<u64>,
    /// Delayed calls: when to let each run, and its notification id.
    held: Vec<(Instant, u64)>,
}

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl<'a> Injector<'a> {
    pub(crate) fn new(plan: &'a InjectPlan, body: i32) -> Self {
        Self {
            plan,
            body,
            policy: (!plan.policy_bpf.is_empty()).then(|| Program::from_bytes(&plan.policy_bpf)),
            // Checked in the parent; a glob that does not compile here matches nothing.
            globs: plan
                .rules
                .iter()
                .map(|r| r.path.as_deref().and_then(|p| glob::Pattern::new(p).ok()))
                .collect(),
            when: plan
                .rules
                .iter()
                .map(|r| When::from_parts(r.when.0, r.when.1, r.when.2))
                .collect(),
            counts: vec![0; plan.rules.len()],
            held: Vec::new(),
        }
    }

    /// Whether the policy itself asked for this notification (errno mode, record, a
    /// profile's errno default); otherwise it is an injection candidate.
    pub(crate) fn policy_notified(&self, data: &libc::seccomp_data) -> bool {
        // A program the interpreter cannot run is taken as the policy's: refused, not
        // injected.
        self.policy.as_ref().is_some_and(|p| {
            p.run(data)
                .map_or(true, |ret| bpf::action(ret) == bpf::RET_USER_NOTIF)
        })
    }

    /// poll(2)'s timeout: until the next held call is due (-1: none held).
    pub(crate) fn poll_timeout(&self) -> libc::c_int {
        let now = Instant::now();
        self.held
            .iter()
            .map(|(due, _)| due.saturating_duration_since(now))
            .min()
            .map_or(-1, |left| {
                // Round up, so that a held call is not answered early.
                let ms = left.as_micros().div_ceil(1000);
                ms.min(i32::MAX as u128) as libc::c_int
            })
    }

    /// Lets the held calls whose delay is over run.
    pub(crate) fn release_due(&mut self, listener: RawFd) {
        let now = Instant::now();
        self.held.retain(|&(due, id)| {
            if due > now {
                return true;
            }
            let mut resp = continue_response(id);
            // SAFETY: resp is the right size; ENOENT (the caller died meanwhile) is fine.
            unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
            false
        });
    }

    /// Decides a notified call the policy allowed: `Some(answer)` to send now, `None` when
    /// it is held for a delay or already gone.
    pub(crate) fn decide(
        &mut self,
        listener: RawFd,
        req: &libc::seccomp_notif,
        sink: &EventSink,
    ) -> Option<libc::seccomp_notif_resp> {
        let mut path: Option<Option<PathBuf>> = None;
        let mut read_path = |layout: Option<target::Target>| {
            path.get_or_insert_with(|| {
                layout.and_then(|t| target::resolve(req.pid, t, &req.data.args))
            })
            .clone()
        };
        let mut matching = Vec::new();
        for (i, rule) in self.plan.rules.iter().enumerate() {
            let Some(&(_, layout)) = rule.syscalls.iter().find(|(nr, _)| *nr == req.data.nr) else {
                continue;
            };
            if let Some(glob) = &self.globs[i] {
                match read_path(layout) {
                    Some(p) if glob.matches_path_with(&p, MATCH) => {}
                    _ => continue,
                }
            }
            matching.push((i, layout));
        }
        if matching.is_empty() {
            return Some(continue_response(req.id));
        }
        let tid = req.pid as i32;
        // The first matching rule whose `when` this call hits (counted below).
        let chosen = matching
            .iter()
            .copied()
            .find(|&(i, _)| self.when[i].hits(self.counts[i] + 1));
        // Asked of /proc only for a fault whose stack the body's handler sends.
        let own_code = chosen.is_some_and(|(i, _)| {
            !matches!(self.plan.rules[i].fault, Fault::Delay(_))
                && is_bodys_own_code(self.body, tid)
        });
        // The path was read from a process that may have died meanwhile, its pid reused:
        // only a notification still pending proves it was the caller's.
        if !still_waiting(listener, req.id) {
            return None;
        }
        for &(i, _) in &matching {
            self.counts[i] += 1;
        }
        let Some((i, layout)) = chosen else {
            return Some(continue_response(req.id));
        };
        let call = self.counts[i];
        let rule = &self.plan.rules[i];
        let _ = sink.send(&SeccompEvent::Injected(RawInjection {
            rule: i,
            rule_text: rule.text.clone(),
            call,
            pid: tid,
            tid,
            arch: req.data.arch,
            nr: req.data.nr,
            args: req.data.args,
            decoded: arguments(req),
            path: read_path(layout).as_deref().map(display),
            fault: rule.fault,
        }));
        // The body's own call: its SIGSYS handler sends the caller's stack (not for a delay:
        // the signal would interrupt the held call, which then never runs).
        let request = match rule.fault {
            Fault::Errno(errno) => Some(AtTheCall::Refuse(errno as i32)),
            Fault::Retval(value) => i32::try_from(value).ok().map(AtTheCall::Return),
            Fault::Delay(_) => None,
        };
        if let (true, Some(request)) = (own_code, request) {
            request.ask(self.body, tid);
        }
        let mut resp = continue_response(req.id);
        match rule.fault {
            Fault::Errno(errno) => {
                resp.flags = 0;
                resp.error = -(errno as i32);
            }
            Fault::Retval(value) => {
                resp.flags = 0;
                resp.val = value;
            }
            Fault::Delay(delay) => {
                self.held.push((Instant::now() + delay, req.id));
                return None;
            }
        }
        Some(resp)
    }
}

fn continue_response(id: u64) -> libc::seccomp_notif_resp {
    libc::seccomp_notif_resp {
        id,
        val: 0,
        error: 0,
        flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    }
}
