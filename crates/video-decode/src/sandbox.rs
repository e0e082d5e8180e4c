//! What a worker forbids itself before FFmpeg sees a byte of the video: resource limits
//! (`RLIMIT_AS`, `RLIMIT_CPU`, no file growth, no core dumps, few descriptors), then a
//! seccomp filter that kills the process on any attempt to reach the network, start a
//! process or thread, trace, load kernel code, or create, change or open a file for
//! writing. The video itself is in a memory file, so the worker needs no writable path.

use std::collections::BTreeMap;

use rustix::process::{Resource, Rlimit, setrlimit};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use vigil_video::JobLimits;

/// Descriptors a worker may hold: stdio, the memory file, FFmpeg's reopening of it.
const MAX_OPEN_FILES: u64 = 16;

/// Applies the resource limits. Failing to is fatal: an unbounded worker must not decode.
pub(crate) fn limit(limits: &JobLimits) -> Result<(), String> {
    let set = |resource, soft: u64, hard: u64, name: &str| {
        setrlimit(
            resource,
            Rlimit {
                current: Some(soft),
                maximum: Some(hard),
            },
        )
        .map_err(|e| format!("cannot set {name}: {e}"))
    };
    set(
        Resource::As,
        limits.memory_bytes,
        limits.memory_bytes,
        "RLIMIT_AS",
    )?;
    // SIGXCPU at the soft limit, SIGKILL a second later if it is ignored.
    set(
        Resource::Cpu,
        limits.cpu_secs,
        limits.cpu_secs + 1,
        "RLIMIT_CPU",
    )?;
    set(Resource::Fsize, 0, 0, "RLIMIT_FSIZE")?;
    set(Resource::Core, 0, 0, "RLIMIT_CORE")?;
    set(
        Resource::Nofile,
        MAX_OPEN_FILES,
        MAX_OPEN_FILES,
        "RLIMIT_NOFILE",
    )
}

/// Installs the seccomp filter (and `no_new_privs`). An error means the kernel or the
/// architecture does not support it; the caller decides whether to go on.
pub(crate) fn seccomp() -> Result<(), String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = forbidden()
        .into_iter()
        .map(|syscall| (syscall, Vec::new()))
        .collect();
    rules.insert(libc::SYS_openat, open_for_writing(2)?);
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_open, open_for_writing(1)?);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::KillProcess,
        arch,
    )
    .map_err(|e| e.to_string())?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    seccompiler::apply_filter(&program).map_err(|e| e.to_string())
}

/// Rules matching an open whose flags (argument `flags_arg`) ask to write, create or
/// truncate.
fn open_for_writing(flags_arg: u8) -> Result<Vec<SeccompRule>, String> {
    let flag = |mask: i32, value: i32| -> Result<SeccompRule, String> {
        let condition = SeccompCondition::new(
            flags_arg,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(mask as u64),
            value as u64,
        )
        .map_err(|e| e.to_string())?;
        SeccompRule::new(vec![condition]).map_err(|e| e.to_string())
    };
    Ok(vec![
        flag(libc::O_ACCMODE, libc::O_WRONLY)?,
        flag(libc::O_ACCMODE, libc::O_RDWR)?,
        flag(libc::O_CREAT, libc::O_CREAT)?,
        flag(libc::O_TRUNC, libc::O_TRUNC)?,
    ])
}

/// System calls a decoding worker never needs.
fn forbidden() -> Vec<i64> {
    let mut calls = vec![
        // The network.
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_accept4,
        libc::SYS_sendmsg,
        libc::SYS_sendmmsg,
        // New programs, processes and threads.
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_clone,
        libc::SYS_clone3,
        // Other processes and the kernel.
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_kill,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_setns,
        libc::SYS_unshare,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_reboot,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        // Changing the file system.
        libc::SYS_mknodat,
        libc::SYS_linkat,
        libc::SYS_symlinkat,
        libc::SYS_unlinkat,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_mkdirat,
        libc::SYS_fchmodat,
        libc::SYS_fchownat,
        libc::SYS_fchmod,
        libc::SYS_fchown,
        libc::SYS_truncate,
        libc::SYS_ftruncate,
        libc::SYS_fallocate,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_creat,
        libc::SYS_link,
        libc::SYS_symlink,
        libc::SYS_unlink,
        libc::SYS_rename,
        libc::SYS_mkdir,
        libc::SYS_rmdir,
        libc::SYS_chmod,
        libc::SYS_chown,
        libc::SYS_lchown,
        libc::SYS_mknod,
    ]);
    calls
}

/// The process's peak resident memory (`VmHWM`), 0 where `/proc` does not say.
pub(crate) fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}
