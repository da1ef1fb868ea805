//! The woven filter, run by the interpreter: the precedence, without a sandbox.

use super::bpf::{action, RET_ALLOW, RET_USER_NOTIF};
use super::*;
use crate::seccomp::bpf::Program;
use crate::seccomp::groups::native_arch;
use crate::seccomp::policy::{OnViolation, Policy, Rules};

fn call(name: &str, arg0: u64) -> libc::seccomp_data {
    let nr = match crate::seccomp::groups::lookup(name) {
        crate::seccomp::groups::Lookup::Native(nr) => nr,
        _ => panic!("{name} unknown"),
    };
    libc::seccomp_data {
        nr,
        arch: native_arch(),
        instruction_pointer: 0,
        args: [arg0, 0, 0, 0, 0, 0],
    }
}

fn woven(policy: &Policy, rules: &[Inject]) -> CompiledFilter {
    let filter = crate::seccomp::compile::compile_uncached(policy).unwrap();
    weave(filter, rules).unwrap().unwrap()
}

fn verdict(filter: &CompiledFilter, name: &str, arg0: u64) -> u32 {
    action(
        Program::from_bytes(&filter.bpf)
            .run(&call(name, arg0))
            .unwrap(),
    )
}

fn enospc(syscall: &str) -> Inject {
    Inject::new(syscall, Fault::Errno(Errno::ENOSPC))
}

#[test]
fn injected_calls_the_policy_allows_notify() {
    let f = woven(&Policy::Baseline, &[enospc("write"), enospc("@network-io")]);
    assert_eq!(verdict(&f, "write", 1), RET_USER_NOTIF);
    assert_eq!(verdict(&f, "connect", 4), RET_USER_NOTIF);
    assert_eq!(verdict(&f, "getpid", 0), RET_ALLOW);
    // The baseline's refusals stay the kernel's.
    assert_eq!(verdict(&f, "unshare", 0), libc::SECCOMP_RET_ERRNO);
    // The harness's channel is left alone.
    let channel = crate::step::CHANNEL_FD as u64;
    assert_eq!(verdict(&f, "sendmsg", channel), RET_ALLOW);
    assert_eq!(verdict(&f, "sendmsg", channel | 1 << 32), RET_USER_NOTIF);
    assert_eq!(verdict(&f, "sendmsg", 7), RET_USER_NOTIF);
    assert!(f.notify.is_none());
    assert!(f.inject.as_ref().unwrap().policy_bpf.is_empty());
}

#[test]
fn the_policy_refuses_first() {
    let rules = Rules::new(["connect"]).unwrap();
    let f = woven(&Policy::Deny(rules), &[enospc("connect"), enospc("write")]);
    let injector = Injector::new(f.inject.as_ref().unwrap(), 0);
    // Both notify; the supervisor tells the policy's refusal from the injection.
    assert_eq!(verdict(&f, "connect", 4), RET_USER_NOTIF);
    assert!(injector.policy_notified(&call("connect", 4)));
    assert_eq!(verdict(&f, "write", 1), RET_USER_NOTIF);
    assert!(!injector.policy_notified(&call("write", 1)));
    // The baseline's kernel-side refusals never reach the supervisor.
    let f = woven(&Policy::Baseline, &[enospc("unshare")]);
    assert_eq!(verdict(&f, "unshare", 0), libc::SECCOMP_RET_ERRNO);
}

#[test]
fn errno_mode_notifications_are_told_apart() {
    let rules = Rules::new(["connect"])
        .unwrap()
        .on_violation(OnViolation::Errno(Errno::EPERM));
    let f = woven(&Policy::Deny(rules), &[enospc("connect"), enospc("write")]);
    let plan = f.inject.as_ref().unwrap();
    let injector = Injector::new(plan, 0);
    assert_eq!(verdict(&f, "connect", 4), RET_USER_NOTIF);
    assert!(injector.policy_notified(&call("connect", 4)));
    assert_eq!(verdict(&f, "write", 1), RET_USER_NOTIF);
    assert!(!injector.policy_notified(&call("write", 1)));
}

#[test]
fn without_a_policy_only_injected_calls_notify() {
    let f = woven(&Policy::Off, &[enospc("fsync")]);
    assert_eq!(verdict(&f, "fsync", 3), RET_USER_NOTIF);
    assert_eq!(verdict(&f, "unshare", 0), RET_ALLOW);
    // Another architecture's call never notifies.
    let mut other = call("fsync", 3);
    other.arch ^= 1;
    assert_eq!(
        action(Program::from_bytes(&f.bpf).run(&other).unwrap()),
        RET_ALLOW
    );
}

#[test]
fn without_rules_the_filter_is_unchanged() {
    let filter = crate::seccomp::compile::compile_uncached(&Policy::Baseline).unwrap();
    assert_eq!(weave(filter.clone(), &[]).unwrap(), filter);
}

#[test]
fn bad_rules_name_the_rule() {
    let err = |rule: Inject| weave(None, &[rule]).unwrap_err().to_string();
    assert!(err(enospc("no_such_call")).contains("no_such_call"));
    let e = err(enospc("getpid").path("/x"));
    assert!(
        e.contains("inject(syscall = \"getpid\"") && e.contains("takes no path"),
        "{e}"
    );
    assert!(err(enospc("exit_group")).contains("cannot be injected"));
    assert!(err(enospc("write").path("/a/[")).contains("bad path glob"));
}

#[test]
fn rules_read_like_the_attribute() {
    let rule = enospc("write").when(When::from_nth(3)).path("/tmp/app/*");
    assert_eq!(
        rule.to_string(),
        "inject(syscall = \"write\", errno = \"ENOSPC\", when = \"3+\", path = \"/tmp/app/*\")"
    );
    let delay = Inject::new("read", Fault::Delay(std::time::Duration::from_millis(300)));
    assert_eq!(
        delay.to_string(),
        "inject(syscall = \"read\", delay = \"300ms\")"
    );
}
