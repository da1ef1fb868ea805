//! The injection filter around a policy's BPF.
//!
//! One filter, one listener: a process may have only one notification listener in its
//! filter chain, and the policy may already need it (errno mode, record, a profile's errno
//! default). So the policy's compiled program is *woven*: every `return ALLOW` of it jumps
//! to an epilogue that returns `USER_NOTIF` for the injected syscalls (native arch only;
//! `sendmsg`/`sendto` on the harness's channel excluded) and `ALLOW` for the rest. What
//! the policy refuses (trap, kill, errno) is therefore never injected: the kernel decides
//! it before the epilogue is reached.
//!
//! When the policy notifies too, the supervisor must tell a policy notification from an
//! injection: it runs the policy's own program on the call's `seccomp_data`
//! (`seccomp::bpf::Program`, the interpreter the supervisor also runs profiles with).

/// `struct sock_filter`.
pub(crate) type Insn = libc::sock_filter;

const INSN_SIZE: usize = std::mem::size_of::<libc::sock_filter>();
/// The kernel's limit on a classic BPF program.
const MAX_INSNS: usize = 4096;

const LD: u16 = 0x00;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const W: u16 = 0x00;
const ABS: u16 = 0x20;
const K: u16 = 0x00;
const A: u16 = 0x10;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;

pub(crate) const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub(crate) const RET_USER_NOTIF: u32 = libc::SECCOMP_RET_USER_NOTIF;
const ACTION_FULL: u32 = libc::SECCOMP_RET_ACTION_FULL;

/// `sizeof(struct seccomp_data)`: nr, arch, instruction_pointer, args[6].
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0: u32 = 16;

/// Decodes `struct sock_filter[]` bytes.
pub(crate) fn decode(bytes: &[u8]) -> Vec<Insn> {
    crate::seccomp::bpf::Program::from_bytes(bytes).into_instructions()
}

/// Encodes instructions as `struct sock_filter[]` bytes.
pub(crate) fn encode(prog: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * INSN_SIZE);
    for i in prog {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// What to notify: the injected syscall numbers, and which of them the harness also uses
/// on its channel (those are left alone when their first argument is `channel`).
pub(crate) struct Targets<'a> {
    pub arch: u32,
    pub syscalls: &'a [i32],
    pub channel_only: &'a [i32],
    pub channel: u32,
}

/// `policy` (may be empty: no policy filter) with every `return ALLOW` sent through the
/// injection epilogue.
pub(crate) fn weave(policy: &[Insn], targets: &Targets<'_>) -> Result<Vec<Insn>, String> {
    let mut prog = Vec::with_capacity(policy.len() + 8 + 2 * targets.syscalls.len());
    let epilogue = policy.len();
    for (i, insn) in policy.iter().enumerate() {
        if insn.code == RET | A {
            return Err("the policy's filter returns a computed action".into());
        }
        if insn.code == RET | K && insn.k & ACTION_FULL == RET_ALLOW {
            prog.push(stmt(JMP | JA, (epilogue - i - 1) as u32));
        } else {
            prog.push(*insn);
        }
    }
    prog.push(stmt(LD | W | ABS, OFF_ARCH));
    prog.push(jump(JMP | JEQ | K, targets.arch, 1, 0));
    prog.push(stmt(RET | K, RET_ALLOW));
    prog.push(stmt(LD | W | ABS, OFF_NR));
    // Jumps to the channel check are patched once its place is known.
    let mut to_channel = Vec::new();
    for &nr in targets.syscalls {
        prog.push(jump(JMP | JEQ | K, nr as u32, 0, 1));
        if targets.channel_only.contains(&nr) {
            to_channel.push(prog.len());
            prog.push(stmt(JMP | JA, 0));
        } else {
            prog.push(stmt(RET | K, RET_USER_NOTIF));
        }
    }
    prog.push(stmt(RET | K, RET_ALLOW));
    let channel_check = prog.len();
    for at in to_channel {
        prog[at].k = (channel_check - at - 1) as u32;
    }
    // args[0] == channel (a 64-bit compare, little-endian words): leave it to the harness.
    prog.push(stmt(LD | W | ABS, OFF_ARG0));
    prog.push(jump(JMP | JEQ | K, targets.channel, 0, 3));
    prog.push(stmt(LD | W | ABS, OFF_ARG0 + 4));
    prog.push(jump(JMP | JEQ | K, 0, 0, 1));
    prog.push(stmt(RET | K, RET_ALLOW));
    prog.push(stmt(RET | K, RET_USER_NOTIF));
    if prog.len() > MAX_INSNS {
        return Err(format!(
            "the filter with the injected syscalls has {} instructions, over the kernel's {MAX_INSNS}",
            prog.len()
        ));
    }
    Ok(prog)
}

/// The action part of a filter's return value.
pub(crate) fn action(ret: u32) -> u32 {
    ret & ACTION_FULL
}
