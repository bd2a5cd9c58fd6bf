//! Which device nodes a container may use: the ones xdocker puts in its
//! /dev, its ptys, tun and fuse; any node may be created (mknod) but no
//! other can be opened, so a node made for the host's disk is useless.
//! cgroup v1 writes the list to `devices.deny`/`devices.allow`; cgroup v2
//! has no interface file for it, so the list becomes a small eBPF program
//! of type `BPF_PROG_TYPE_CGROUP_DEVICE` (as runc and crun make it). Both
//! go once on xdocker's parent group. LXC's defaults for system
//! containers, minus the host's ttys.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use xdockerinit::sys::{self, BpfInsn};

/// Block or character device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Block,
    Char,
}

/// Access bits, as both interfaces name them.
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;

/// One allowed device class; `None` is a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: Option<Kind>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

const fn node(major: u32, minor: u32) -> Rule {
    Rule {
        kind: Some(Kind::Char),
        major: Some(major),
        minor: Some(minor),
        access: READ | WRITE | MKNOD,
    }
}

/// What every container may use.
pub const DEFAULT: &[Rule] = &[
    // mknod of anything: harmless without read and write.
    Rule {
        kind: Some(Kind::Char),
        major: None,
        minor: None,
        access: MKNOD,
    },
    Rule {
        kind: Some(Kind::Block),
        major: None,
        minor: None,
        access: MKNOD,
    },
    node(1, 3), // null
    node(1, 5), // zero
    node(1, 7), // full
    node(1, 8), // random
    node(1, 9), // urandom
    node(5, 0), // tty
    node(5, 1), // console
    node(5, 2), // ptmx
    Rule {
        kind: Some(Kind::Char),
        major: Some(136),
        minor: None,
        access: READ | WRITE | MKNOD,
    }, // pts/*
    node(10, 200), // net/tun
    node(10, 229), // fuse
];

impl Rule {
    /// The rule as `devices.allow` takes it: `c 1:3 rwm`, `b *:* m`.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            Some(Kind::Block) => "b",
            Some(Kind::Char) => "c",
            None => "a",
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let mut access = String::new();
        for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(c);
            }
        }
        format!("{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

// ------------------------------------------------------------------ eBPF

/// `BPF_DEVCG_DEV_*` of linux/bpf.h.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// One `struct bpf_insn`.
pub type Insn = BpfInsn;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_X: u8 = 0xbf; // dst = src
const MOV64_K: u8 = 0xb7; // dst = imm
const AND32_K: u8 = 0x54; // dst &= imm (32 bit)
const RSH32_K: u8 = 0x74; // dst >>= imm (32 bit)
const JNE_K: u8 = 0x55; // if dst != imm: pc += off
const EXIT: u8 = 0x95;

/// The program for `rules`: reads `struct bpf_cgroup_dev_ctx { u32
/// access_type; u32 major; u32 minor; }` (type in the low 16 bits of
/// access_type, access bits in the high ones) and returns 1 (allow) at the
/// first rule that matches, 0 (deny) when none does.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor.
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(MOV64_X, 3, 2, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        // Each test jumps past the rest of this rule's block when it fails.
        let mut tests: Vec<Vec<Insn>> = Vec::new();
        if let Some(kind) = rule.kind {
            let t = if kind == Kind::Block {
                DEV_BLOCK
            } else {
                DEV_CHAR
            };
            tests.push(vec![insn(JNE_K, 2, 0, 0, t)]);
        }
        let all = READ | WRITE | MKNOD;
        if rule.access & all != all {
            // Refused unless every requested bit is in the rule.
            tests.push(vec![
                insn(MOV64_X, 1, 3, 0, 0),
                insn(AND32_K, 1, 0, 0, i32::from(!rule.access & all)),
                insn(JNE_K, 1, 0, 0, 0),
            ]);
        }
        if let Some(major) = rule.major {
            tests.push(vec![insn(JNE_K, 4, 0, 0, major as i32)]);
        }
        if let Some(minor) = rule.minor {
            tests.push(vec![insn(JNE_K, 5, 0, 0, minor as i32)]);
        }
        let block_len: usize = tests.iter().map(Vec::len).sum::<usize>() + 2;
        let start = p.len();
        for t in tests {
            p.extend(t);
        }
        // Every conditional jump of the block goes to the end of the block.
        let end = start + block_len;
        for (i, ins) in p.iter_mut().enumerate().skip(start) {
            if ins.code == JNE_K {
                ins.off = (end - (i + 1)) as i16;
            }
        }
        p.push(insn(MOV64_K, 0, 0, 0, 1));
        p.push(insn(EXIT, 0, 0, 0, 0));
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

// linux/bpf.h
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Makes sure a device program is attached to the cgroup v2 group at
/// `group` (xdocker's parent group, which only xdocker uses): when none is,
/// loads the one for `rules` and attaches it with BPF_F_ALLOW_MULTI, so it
/// binds every group below, each container's among them. Once per parent
/// group, not once per boot.
pub fn ensure_v2(group: &Path, rules: &[Rule]) -> io::Result<()> {
    let dir = std::fs::File::open(group)?;
    if sys::bpf_prog_count(dir.as_fd(), BPF_CGROUP_DEVICE)? > 0 {
        return Ok(());
    }
    attach_v2(group, rules)
}

/// Loads the program for `rules` and attaches it to the cgroup v2 group at
/// `group` (a directory of a cgroup2 file system). The attachment lives as
/// long as the group; our descriptors are closed on return.
fn attach_v2(group: &Path, rules: &[Rule]) -> io::Result<()> {
    let prog = sys::bpf_prog_load(
        BPF_PROG_TYPE_CGROUP_DEVICE,
        BPF_CGROUP_DEVICE,
        &program(rules),
        c"GPL",
        "xdocker_d",
    )?;
    let dir = std::fs::File::open(group)?;
    sys::bpf_prog_attach(
        dir.as_fd(),
        prog.as_fd(),
        BPF_CGROUP_DEVICE,
        BPF_F_ALLOW_MULTI,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one request (the subset of eBPF it emits).
    fn run(p: &[Insn], kind: i32, access: u8, major: u32, minor: u32) -> i64 {
        let ctx = [(u32::from(access) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                MOV64_X => r[dst] = r[src],
                MOV64_K => r[dst] = i.imm as i64 as u64,
                AND32_K => r[dst] = u64::from(r[dst] as u32 & i.imm as u32),
                RSH32_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                EXIT => return r[0] as i64,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_default_program_allows_exactly_the_list() {
        let p = program(DEFAULT);
        let rw = READ | WRITE;
        // The nodes of a container's /dev, ptys, tun, fuse.
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 9),
            (5, 2),
            (136, 0),
            (136, 7),
            (10, 200),
        ] {
            assert_eq!(run(&p, DEV_CHAR, rw, major, minor), 1, "c {major}:{minor}");
        }
        // The host's disks (vda 254:0, sda 8:0), memory, ttys, input: no.
        assert_eq!(run(&p, DEV_BLOCK, READ, 254, 0), 0);
        assert_eq!(run(&p, DEV_BLOCK, WRITE, 8, 0), 0);
        assert_eq!(run(&p, DEV_CHAR, READ, 1, 1), 0, "/dev/mem");
        assert_eq!(run(&p, DEV_CHAR, rw, 4, 1), 0, "/dev/tty1");
        assert_eq!(run(&p, DEV_CHAR, READ, 13, 64), 0, "input");
        // mknod of anything, but only mknod.
        assert_eq!(run(&p, DEV_BLOCK, MKNOD, 8, 0), 1);
        assert_eq!(run(&p, DEV_BLOCK, MKNOD | READ, 8, 0), 0);
        assert_eq!(run(&p, DEV_CHAR, MKNOD, 1, 1), 1);
    }

    #[test]
    fn v1_lines_read_like_the_kernel_writes_them() {
        let lines: Vec<String> = DEFAULT.iter().map(Rule::v1_line).collect();
        assert_eq!(lines[0], "c *:* m");
        assert_eq!(lines[1], "b *:* m");
        assert_eq!(lines[2], "c 1:3 rwm");
        assert!(lines.contains(&"c 136:* rwm".to_string()));
    }
}
