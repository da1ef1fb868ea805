//! Which limit, if any, made the body die or fail, and what enforced it.
//!
//! The parent decides from evidence it has, never from the configuration alone:
//! - how the body's process ended (SIGXCPU is only sent for `RLIMIT_CPU`; a SIGKILL
//!   counts for `cpu` only when the body's CPU time reached the budget);
//! - the sandbox cgroup's counters (`memory.events: oom_kill`, `pids.events: max`);
//! - the body's output, when the body failed: the failure each rlimit produces is
//!   recognisable there: Rust's allocation-failure abort ("memory allocation of N bytes
//!   failed") or ENOMEM under `RLIMIT_DATA`, EAGAIN from fork/clone/thread spawn under
//!   `RLIMIT_NPROC`, EMFILE under `RLIMIT_NOFILE`. The line found is quoted as evidence.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cgroup::{CgroupEvents, SandboxCgroup};
use super::{Enforcement, LimitKind, Mechanism};
use crate::outcome::{ExitStatus, Outcome, Output};
use crate::spec::cpu::whole_seconds;

/// A limit that stopped the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitHit {
    /// Which limit.
    pub limit: LimitKind,
    /// Its configured value, as the user would write it.
    pub configured: String,
    /// What enforced it.
    pub mechanism: Mechanism,
    /// What shows that it was hit.
    pub evidence: String,
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} limit {} enforced by {}: {}",
            self.limit, self.configured, self.mechanism, self.evidence
        )
    }
}

/// What the parent knows about how the body ended.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// The body did not pass (it panicked, returned an error, exited non-zero or was
    /// killed).
    pub failed: bool,
    /// The signal that killed the body's process, if one did.
    pub signal: Option<i32>,
    /// The CPU time the body's process used, if known.
    pub cpu_time: Option<Duration>,
    /// The body's captured output (stdout and stderr) and failure message.
    pub output: &'a str,
    /// The sandbox cgroup's counters, when a cgroup enforced limits.
    pub cgroup_events: Option<CgroupEvents>,
}

/// Parent, once the sandbox is gone: wraps `outcome` in [`Outcome::LimitExceeded`] when
/// the evidence shows a limit stopped the body. A pass, a timeout or a setup failure is
/// left as it is.
pub(crate) fn attribute_outcome(
    enforcement: &Enforcement,
    outcome: Outcome,
    body_exit: Option<ExitStatus>,
    cpu_time: Option<Duration>,
    streams: &[&Output],
) -> Outcome {
    let failed = matches!(
        outcome,
        Outcome::Panicked { .. }
            | Outcome::ReturnedErr { .. }
            | Outcome::Exited { .. }
            | Outcome::Signaled { .. }
    );
    if enforcement.limits.is_empty() || !failed {
        return outcome;
    }
    let signal = match body_exit {
        Some(ExitStatus::Signal { signal, .. }) => Some(signal),
        _ => None,
    };
    let mut output = match &outcome {
        Outcome::Panicked { message, .. } => message.clone(),
        Outcome::ReturnedErr { debug } => debug.clone(),
        _ => String::new(),
    };
    for stream in streams {
        output.push('\n');
        output.push_str(&stream.text());
    }
    let evidence = Evidence {
        failed,
        signal,
        cpu_time,
        output: &output,
        cgroup_events: enforcement
            .cgroup
            .as_ref()
            .map(|dir| SandboxCgroup { dir: dir.clone() }.events()),
    };
    match attribute(enforcement, &evidence) {
        Some(hit) => Outcome::LimitExceeded {
            hit,
            outcome: Box::new(outcome),
        },
        None => outcome,
    }
}

/// Errno spellings as std (`(os error N)`), nix (`ENAME`) and strerror print them.
const ENOMEM: &[&str] = &["(os error 12)", "ENOMEM", "Cannot allocate memory"];
const EAGAIN: &[&str] = &[
    "(os error 11)",
    "code: 11,",
    "EAGAIN",
    "Resource temporarily unavailable",
];
const EMFILE: &[&str] = &[
    "(os error 24)",
    "code: 24,",
    "EMFILE",
    "Too many open files (os",
];
/// Rust's default allocation error handler: "memory allocation of N bytes failed".
const ALLOC_FAILED: &[&str] = &["memory allocation of "];

/// A limit, its configured value if set, and the markers of its failure in the output.
type TextRule<'m> = (LimitKind, Option<String>, &'m [&'m [&'m str]]);

/// Names the limit that stopped the body, if the evidence shows one.
pub fn attribute(enforcement: &Enforcement, evidence: &Evidence<'_>) -> Option<LimitHit> {
    let limits = &enforcement.limits;
    let hit = |limit: LimitKind, configured: String, evidence: String| LimitHit {
        limit,
        configured,
        mechanism: enforcement.mechanism(limit),
        evidence,
    };
    if let Some(budget) = limits.cpu {
        let seconds = whole_seconds(budget);
        let used = evidence
            .cpu_time
            .map(|t| format!(" after {:.2} s of CPU time", t.as_secs_f64()))
            .unwrap_or_default();
        let reached = evidence.cpu_time.is_some_and(|t| t.as_secs() >= seconds);
        let configured = format!("{seconds}s");
        match evidence.signal {
            Some(libc::SIGXCPU) => {
                return Some(hit(
                    LimitKind::Cpu,
                    configured,
                    format!("the body was killed by SIGXCPU{used}"),
                ))
            }
            Some(libc::SIGKILL) if reached => {
                return Some(hit(
                    LimitKind::Cpu,
                    configured,
                    format!("the body was killed by SIGKILL at the hard limit{used}"),
                ))
            }
            _ => {}
        }
    }
    if let (Some(bytes), Some(events)) = (limits.memory, evidence.cgroup_events) {
        if events.oom_kills > 0 {
            let what = format!(
                "the OOM killer killed {} process(es) in the sandbox's cgroup",
                events.oom_kills
            );
            return Some(hit(LimitKind::Memory, human_size(bytes), what));
        }
    }
    if let (Some(pids), Some(events)) = (limits.pids, evidence.cgroup_events) {
        if events.pids_max > 0 {
            let what = format!("{} fork(s) failed at the limit", events.pids_max);
            return Some(hit(LimitKind::Pids, pids.to_string(), what));
        }
    }
    if !evidence.failed {
        return None;
    }
    let text_rules: [TextRule<'_>; 3] = [
        (
            LimitKind::Memory,
            limits.memory.map(human_size),
            &[ALLOC_FAILED, ENOMEM],
        ),
        (
            LimitKind::Pids,
            limits.pids.map(|p| p.to_string()),
            &[EAGAIN],
        ),
        (
            LimitKind::Files,
            limits.files.map(|f| f.to_string()),
            &[EMFILE],
        ),
    ];
    text_rules
        .into_iter()
        .find_map(|(kind, configured, markers)| {
            let configured = configured?;
            let line = markers
                .iter()
                .find_map(|set| line_with(evidence.output, set))?;
            Some(hit(
                kind,
                configured,
                format!("the body failed with \"{line}\""),
            ))
        })
}

/// The first line of `output` containing one of `markers`, trimmed and shortened.
fn line_with<'o>(output: &'o str, markers: &[&str]) -> Option<&'o str> {
    let line = output
        .lines()
        .find(|line| markers.iter().any(|m| line.contains(m)))?
        .trim();
    Some(match line.char_indices().nth(200) {
        Some((cut, _)) => &line[..cut],
        None => line,
    })
}

/// `64M`-style spelling of a byte count (exact, binary units).
fn human_size(bytes: u64) -> String {
    ["T", "G", "M", "K"]
        .into_iter()
        .zip([40, 30, 20, 10])
        .find(|(_, shift)| bytes >= 1 << shift && bytes.trailing_zeros() >= *shift)
        .map_or_else(
            || bytes.to_string(),
            |(unit, shift)| format!("{}{unit}", bytes >> shift),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    fn rlimits(limits: Limits) -> Enforcement {
        Enforcement {
            limits,
            cgroup: None,
        }
    }

    #[test]
    fn sigxcpu_is_the_cpu_limit() {
        let enforcement = rlimits(Limits {
            cpu: Some(Duration::from_secs(1)),
            ..Limits::default()
        });
        let evidence = Evidence {
            failed: true,
            signal: Some(libc::SIGXCPU),
            cpu_time: Some(Duration::from_millis(1003)),
            ..Evidence::default()
        };
        let hit = attribute(&enforcement, &evidence).unwrap();
        assert_eq!(
            (hit.limit, hit.mechanism, hit.configured.as_str()),
            (LimitKind::Cpu, Mechanism::RlimitCpu, "1s")
        );
        assert_eq!(hit.to_string(), "cpu limit 1s enforced by RLIMIT_CPU: the body was killed by SIGXCPU after 1.00 s of CPU time");
    }

    #[test]
    fn sigkill_is_the_cpu_limit_only_when_the_budget_was_used() {
        let enforcement = rlimits(Limits {
            cpu: Some(Duration::from_secs(2)),
            ..Limits::default()
        });
        let mut evidence = Evidence {
            failed: true,
            signal: Some(libc::SIGKILL),
            cpu_time: Some(Duration::from_millis(300)),
            ..Evidence::default()
        };
        assert_eq!(attribute(&enforcement, &evidence), None);
        evidence.cpu_time = Some(Duration::from_millis(3010));
        assert_eq!(
            attribute(&enforcement, &evidence).map(|h| h.limit),
            Some(LimitKind::Cpu)
        );
    }

    #[test]
    fn allocation_failure_is_the_memory_limit() {
        let enforcement = rlimits(Limits {
            memory: Some(64 << 20),
            ..Limits::default()
        });
        let output = "running\nmemory allocation of 134217728 bytes failed\n";
        let evidence = Evidence {
            failed: true,
            signal: Some(libc::SIGABRT),
            output,
            ..Evidence::default()
        };
        let hit = attribute(&enforcement, &evidence).unwrap();
        assert_eq!(hit.to_string(), "memory limit 64M enforced by RLIMIT_DATA: the body failed with \"memory allocation of 134217728 bytes failed\"");
    }

    #[test]
    fn errno_lines_name_pids_and_files() {
        let enforcement = rlimits(Limits {
            pids: Some(32),
            files: Some(64),
            ..Limits::default()
        });
        let fork = Evidence {
            failed: true,
            output: "thread 'main' panicked at src/lib.rs:3:9:\nfork: EAGAIN: Try again\n",
            ..Evidence::default()
        };
        let hit = attribute(&enforcement, &fork).unwrap();
        assert_eq!(
            (hit.limit, hit.mechanism),
            (LimitKind::Pids, Mechanism::RlimitNproc)
        );
        assert!(hit.evidence.contains("fork: EAGAIN"));
        let open = Evidence {
            failed: true,
            output: "open: Too many open files (os error 24)",
            ..Evidence::default()
        };
        assert_eq!(
            attribute(&enforcement, &open).map(|h| (h.limit, h.mechanism)),
            Some((LimitKind::Files, Mechanism::RlimitNofile))
        );
    }

    #[test]
    fn no_evidence_no_attribution() {
        let enforcement = rlimits(Limits {
            memory: Some(1 << 30),
            pids: Some(8),
            cpu: Some(Duration::from_secs(5)),
            files: Some(16),
        });
        // A plain assertion failure.
        let failed = Evidence {
            failed: true,
            output: "assertion `left == right` failed",
            ..Evidence::default()
        };
        assert_eq!(attribute(&enforcement, &failed), None);
        // A passing body that printed an errno.
        let passed = Evidence {
            failed: false,
            output: "retrying after EAGAIN",
            ..Evidence::default()
        };
        assert_eq!(attribute(&enforcement, &passed), None);
        // The limit that would match the line is not configured.
        let unlimited = rlimits(Limits::default());
        let oom = Evidence {
            failed: true,
            output: "memory allocation of 8 bytes failed",
            ..Evidence::default()
        };
        assert_eq!(attribute(&unlimited, &oom), None);
    }

    #[test]
    fn cgroup_counters_name_the_cgroup_mechanism() {
        let enforcement = Enforcement {
            limits: Limits {
                memory: Some(64 << 20),
                pids: Some(32),
                ..Limits::default()
            },
            cgroup: Some("/sys/fs/cgroup/test/sandbox-1".into()),
        };
        let oom = Evidence {
            failed: true,
            signal: Some(libc::SIGKILL),
            cgroup_events: Some(CgroupEvents {
                oom_kills: 1,
                pids_max: 0,
            }),
            ..Evidence::default()
        };
        let hit = attribute(&enforcement, &oom).unwrap();
        assert_eq!(
            (hit.limit, hit.mechanism),
            (LimitKind::Memory, Mechanism::CgroupMemoryMax)
        );
        let forks = Evidence {
            failed: true,
            cgroup_events: Some(CgroupEvents {
                oom_kills: 0,
                pids_max: 4,
            }),
            ..Evidence::default()
        };
        assert_eq!(
            attribute(&enforcement, &forks).map(|h| h.mechanism),
            Some(Mechanism::CgroupPidsMax)
        );
    }

    #[test]
    fn outcomes_are_wrapped_only_with_evidence() {
        let enforcement = rlimits(Limits {
            files: Some(8),
            ..Limits::default()
        });
        let mut stderr = Output::default();
        stderr.push(b"opening: Too many open files (os error 24)\n");
        let panicked = Outcome::Panicked {
            message: "boom".into(),
            location: None,
            backtrace: None,
        };
        let wrapped = attribute_outcome(
            &enforcement,
            panicked.clone(),
            Some(ExitStatus::Code(101)),
            None,
            &[&stderr],
        );
        let Outcome::LimitExceeded { hit, outcome } = &wrapped else {
            panic!("{wrapped:?}")
        };
        assert_eq!(
            (hit.limit, *outcome.clone()),
            (LimitKind::Files, panicked.clone())
        );
        assert!(wrapped
            .to_string()
            .starts_with("sandboxed test hit its files limit 8 enforced by RLIMIT_NOFILE"));
        // A pass stays a pass, whatever the output says.
        assert_eq!(
            attribute_outcome(
                &enforcement,
                Outcome::Passed,
                Some(ExitStatus::Code(0)),
                None,
                &[&stderr]
            ),
            Outcome::Passed
        );
        // No limits, no attribution.
        assert_eq!(
            attribute_outcome(
                &rlimits(Limits::default()),
                panicked.clone(),
                None,
                None,
                &[&stderr]
            ),
            panicked
        );
    }

    #[test]
    fn sizes_are_spelled_like_the_attribute() {
        assert_eq!(human_size(64 << 20), "64M");
        assert_eq!(human_size(1 << 30), "1G");
        assert_eq!(human_size(1536), "1536");
        assert_eq!(human_size(3 << 10), "3K");
    }
}
