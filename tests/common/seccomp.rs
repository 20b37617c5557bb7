//! Starting a process as if its kernel had no io_uring: a seccomp filter, installed
//! between fork and exec, answers `io_uring_setup` with ENOSYS (what a kernel built
//! without io_uring, or with `kernel.io_uring_disabled = 2`, answers) and lets
//! every other system call through. Only the child is filtered.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// `io_uring_setup`: the same number on every architecture since Linux 5.1.
const NR_IO_URING_SETUP: u32 = 425;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

// Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
const LOAD_WORD_ABSOLUTE: u16 = 0x20;
const JUMP_IF_EQUAL: u16 = 0x15;
const RETURN: u16 = 0x06;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
// Offsets in struct seccomp_data.
const SYSCALL_NUMBER: u32 = 0;
const ARCHITECTURE: u32 = 4;

fn statement(code: u16, k: u32) -> libc::sock_filter {
    jump(code, k, 0, 0)
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Makes `command`'s child see io_uring as missing.
pub fn without_io_uring(command: &mut Command) -> &mut Command {
    let program = [
        statement(LOAD_WORD_ABSOLUTE, ARCHITECTURE),
        // Another architecture's numbering: allow (to the last instruction).
        jump(JUMP_IF_EQUAL, AUDIT_ARCH, 0, 3),
        statement(LOAD_WORD_ABSOLUTE, SYSCALL_NUMBER),
        jump(JUMP_IF_EQUAL, NR_IO_URING_SETUP, 0, 1),
        statement(RETURN, SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        statement(RETURN, SECCOMP_RET_ALLOW),
    ];
    // SAFETY: the closure runs in the forked child before exec and only calls
    // prctl, which is async-signal-safe; `program` is moved into the closure and
    // outlives both calls, and `filter` points at it for their duration.
    unsafe {
        command.pre_exec(move || {
            let filter = libc::sock_fprog {
                len: program.len() as u16,
                filter: program.as_ptr().cast_mut(),
            };
            // prctl is variadic: every argument is passed as an unsigned long.
            let no_args: libc::c_ulong = 0;
            if libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as libc::c_ulong,
                no_args,
                no_args,
                no_args,
            ) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &filter as *const libc::sock_fprog as libc::c_ulong,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}
