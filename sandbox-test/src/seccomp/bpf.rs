//! A classic-BPF seccomp filter run in user space on one call: how the supervisor learns
//! what a profile's rules say about a call the kernel notified it of (the loaded filter
//! notifies where the profile traps or kills, so that the supervisor sees every process's
//! call with its arguments; the profile as written decides what happens to it).
//!
//! Only what seccomp filters may contain is interpreted: loads from `seccomp_data`
//! (absolute, 32-bit), the scratch memory, ALU and jumps with constants or X, returns.

use std::fmt;

/// A filter: `struct sock_filter[]` as the kernel takes it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Program(Vec<libc::sock_filter>);

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Program({} instructions)", self.0.len())
    }
}

/// A program that does not behave as the kernel's verifier would have required.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadProgram(&'static str);

impl Program {
    /// From the bytes libseccomp exported (native endianness).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        Self(
            bytes
                .chunks_exact(8)
                .map(|c| libc::sock_filter {
                    code: u16::from_ne_bytes([c[0], c[1]]),
                    jt: c[2],
                    jf: c[3],
                    k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                })
                .collect(),
        )
    }

    /// Its instructions.
    pub(crate) fn into_instructions(self) -> Vec<libc::sock_filter> {
        self.0
    }

    /// The `SECCOMP_RET_*` value the filter returns for `data`.
    pub(crate) fn run(&self, data: &libc::seccomp_data) -> Result<u32, BadProgram> {
        let mut packet = [0u8; 64];
        packet[0..4].copy_from_slice(&data.nr.to_ne_bytes());
        packet[4..8].copy_from_slice(&data.arch.to_ne_bytes());
        packet[8..16].copy_from_slice(&data.instruction_pointer.to_ne_bytes());
        for (i, a) in data.args.iter().enumerate() {
            packet[16 + i * 8..24 + i * 8].copy_from_slice(&a.to_ne_bytes());
        }
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; 16];
        let mut pc = 0usize;
        // Jumps only go forward: at most one pass over the program.
        while let Some(ins) = self.0.get(pc) {
            pc += 1;
            let k = ins.k;
            let src = if ins.code & 0x08 != 0 { x } else { k };
            match ins.code & 0x07 {
                // BPF_LD
                0x00 => {
                    a = match ins.code & 0xe0 {
                        0x00 => k,
                        0x20 if ins.code & 0x18 == 0 => {
                            let at = k as usize;
                            let word = packet.get(at..at + 4).ok_or(BadProgram("load"))?;
                            u32::from_ne_bytes(word.try_into().map_err(|_| BadProgram("load"))?)
                        }
                        0x60 => *mem.get(k as usize).ok_or(BadProgram("mem"))?,
                        0x80 => packet.len() as u32,
                        _ => return Err(BadProgram("load mode")),
                    }
                }
                // BPF_LDX
                0x01 => {
                    x = match ins.code & 0xe0 {
                        0x00 => k,
                        0x60 => *mem.get(k as usize).ok_or(BadProgram("mem"))?,
                        0x80 => packet.len() as u32,
                        _ => return Err(BadProgram("ldx mode")),
                    }
                }
                // BPF_ST, BPF_STX
                0x02 => *mem.get_mut(k as usize).ok_or(BadProgram("mem"))? = a,
                0x03 => *mem.get_mut(k as usize).ok_or(BadProgram("mem"))? = x,
                // BPF_ALU
                0x04 => {
                    a = match ins.code & 0xf0 {
                        0x00 => a.wrapping_add(src),
                        0x10 => a.wrapping_sub(src),
                        0x20 => a.wrapping_mul(src),
                        0x30 => a.checked_div(src).ok_or(BadProgram("div"))?,
                        0x40 => a | src,
                        0x50 => a & src,
                        0x60 => a.checked_shl(src).unwrap_or(0),
                        0x70 => a.checked_shr(src).unwrap_or(0),
                        0x80 => a.wrapping_neg(),
                        0x90 => a.checked_rem(src).ok_or(BadProgram("mod"))?,
                        0xa0 => a ^ src,
                        _ => return Err(BadProgram("alu op")),
                    }
                }
                // BPF_JMP
                0x05 => {
                    let taken = match ins.code & 0xf0 {
                        0x00 => {
                            pc += k as usize;
                            continue;
                        }
                        0x10 => a == src,
                        0x20 => a > src,
                        0x30 => a >= src,
                        0x40 => a & src != 0,
                        _ => return Err(BadProgram("jmp op")),
                    };
                    pc += usize::from(if taken { ins.jt } else { ins.jf });
                }
                // BPF_RET
                0x06 => {
                    return Ok(match ins.code & 0x18 {
                        0x10 => a,
                        0x08 => x,
                        _ => k,
                    })
                }
                // BPF_MISC: TAX, TXA
                _ => match ins.code & 0xf8 {
                    0x00 => x = a,
                    0x80 => a = x,
                    _ => return Err(BadProgram("misc op")),
                },
            }
        }
        Err(BadProgram("ran off the end"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
    use std::io::{Read, Seek};

    fn export(ctx: &ScmpFilterContext) -> Program {
        let mut file = tempfile::tempfile().unwrap();
        ctx.export_bpf(&file).unwrap();
        let mut bytes = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut bytes).unwrap();
        Program::from_bytes(&bytes)
    }

    fn data(nr: i64, args: [u64; 6]) -> libc::seccomp_data {
        libc::seccomp_data {
            nr: nr as i32,
            arch: super::super::groups::native_arch(),
            instruction_pointer: 0x1234,
            args,
        }
    }

    #[test]
    fn agrees_with_libseccomp_on_actions_and_conditions() {
        let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).unwrap();
        ctx.add_rule(
            ScmpAction::Trap,
            ScmpSyscall::from(libc::SYS_getppid as i32),
        )
        .unwrap();
        ctx.add_rule(
            ScmpAction::KillProcess,
            ScmpSyscall::from(libc::SYS_uname as i32),
        )
        .unwrap();
        let masked = ScmpArgCompare::new(
            0,
            ScmpCompareOp::MaskedEqual(libc::CLONE_NEWUSER as u64),
            libc::CLONE_NEWUSER as u64,
        );
        ctx.add_rule_conditional(
            ScmpAction::Errno(libc::EACCES),
            ScmpSyscall::from(libc::SYS_clone as i32),
            &[masked],
        )
        .unwrap();
        let big = ScmpArgCompare::new(1, ScmpCompareOp::Greater, 1 << 40);
        ctx.add_rule_conditional(
            ScmpAction::Errno(libc::E2BIG),
            ScmpSyscall::from(libc::SYS_write as i32),
            &[big],
        )
        .unwrap();
        let p = export(&ctx);
        let ret = |nr, args| p.run(&data(nr, args)).unwrap();
        assert_eq!(ret(libc::SYS_getppid, [0; 6]), libc::SECCOMP_RET_TRAP);
        assert_eq!(ret(libc::SYS_uname, [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(ret(libc::SYS_getpid, [0; 6]), libc::SECCOMP_RET_ALLOW);
        let newuser = [(libc::CLONE_NEWUSER | libc::SIGCHLD) as u64, 0, 0, 0, 0, 0];
        assert_eq!(
            ret(libc::SYS_clone, newuser),
            libc::SECCOMP_RET_ERRNO | libc::EACCES as u32
        );
        assert_eq!(
            ret(libc::SYS_clone, [17, 0, 0, 0, 0, 0]),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            ret(libc::SYS_write, [1, 1 << 41, 0, 0, 0, 0]),
            libc::SECCOMP_RET_ERRNO | libc::E2BIG as u32
        );
        assert_eq!(
            ret(libc::SYS_write, [1, 5, 0, 0, 0, 0]),
            libc::SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn a_program_that_runs_off_its_end_is_refused() {
        let p = Program(vec![libc::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        }]);
        assert!(p.run(&data(0, [0; 6])).is_err());
    }
}
