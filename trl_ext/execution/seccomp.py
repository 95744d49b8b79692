"""The seccomp filter of the sandbox: a deny-list of what a program under test never needs, compiled to a BPF
program by libseccomp (the maintained library systemd, Docker and Flatpak use; called through ctypes, as no
maintained Python binding of it is on PyPI) and handed to bubblewrap with `--seccomp FD`. It lets the worker
make each job's namespaces (`mount`, and `unshare(CLONE_NEWPID | CLONE_NEWNS)` only); every job server then
denies both again for itself and its job with a small filter of its own (`_worker._namespace_filter`), after
dropping the capabilities they need. (A second full filter on the jobs cost ~4 ms a job: every syscall runs
every filter stacked on the process.)

Denied (EPERM unless said): mounts and namespaces (umount2, pivot_root, setns, unshare but the above, clone/clone3
with a CLONE_NEW* flag — clone3 gets ENOSYS so that libc falls back to clone), keyrings (keyctl, add_key,
request_key), tracing and other processes' memory (ptrace, process_vm_readv/writev, kcmp), bpf,
perf_event_open, io_uring_*, userfaultfd, kexec_*, kernel modules, clocks (clock_settime, clock_adjtime,
settimeofday, adjtimex), SysV IPC and POSIX message queues (so no IPC object outlives a job: the workers'
equivalent of a per-job IPC namespace), raw, packet, netlink and vsock sockets, TIOCSTI/TIOCLINUX terminal
injection, swap, reboot, acct, quotas, open_by_handle_at, the new mount API, syslog, other processes' memory
advice and descriptors (process_madvise, process_mrelease, pidfd_getfd). Syscalls of another architecture
(e.g. i386 from x86-64) kill the process.

Attributes of other processes (argument filters): every process in the box has the same uid, so without
these a job could change the limits, priority, CPU affinity, scheduling or I/O priority of its job server or
of the worker (pid 1), and so of every later job (issue 22: a job that lowered pid 1's RLIMIT_FSIZE failed
every later job on that worker; the ignored soft limits of RLIMIT_RSS/RLIMIT_LOCKS carried ~63 bits from one
job to the next). So `prlimit64` may set limits only of the caller (pid 0; reading others' stays allowed),
`setpriority` and `ioprio_set` only for the caller itself (not its process group or user), and
`sched_setaffinity`, `sched_setscheduler`, `sched_setparam`, `sched_setattr`, `migrate_pages`, `move_pages`
only with pid 0. (glibc's setrlimit, nice, sched_* on self all pass pid 0.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import tempfile
from functools import cache

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_NE = 1
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7
AF_NETLINK, AF_PACKET, AF_VSOCK, SOCK_RAW, SOCK_TYPE_MASK = 16, 17, 40, 3, 0xF
PRIO_PROCESS, IOPRIO_WHO_PROCESS = 0, 1
# syscalls whose first argument is a pid: allowed only with 0 (the caller)
SELF_ONLY = (
    "sched_setaffinity sched_setscheduler sched_setparam sched_setattr migrate_pages move_pages".split()
)
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
CLONE_NEW_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
JOB_NAMESPACES = 0x20000000 | 0x00020000  # CLONE_NEWPID | CLONE_NEWNS: what the worker makes for each job

DENIED = (
    "umount umount2 pivot_root chroot setns "
    "keyctl add_key request_key "
    "ptrace process_vm_readv process_vm_writev kcmp "
    "bpf perf_event_open io_uring_setup io_uring_enter io_uring_register userfaultfd "
    "kexec_load kexec_file_load init_module finit_module delete_module create_module "
    "clock_settime clock_adjtime settimeofday adjtimex stime "
    "shmget shmat shmdt shmctl semget semop semtimedop semctl msgget msgsnd msgrcv msgctl "
    "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr "
    "swapon swapoff reboot acct quotactl quotactl_fd open_by_handle_at name_to_handle_at "
    "fsopen fsconfig fsmount fspick move_mount open_tree mount_setattr syslog lookup_dcookie "
    "nfsservctl vhangup iopl ioperm process_madvise process_mrelease pidfd_getfd"
).split()


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


def _errno(code: int) -> int:
    return 0x00050000 | code  # SCMP_ACT_ERRNO(code)


@cache
def _libseccomp():
    name = ctypes.util.find_library("seccomp")
    if not name:
        return None
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)
    ]  # fmt: skip
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _rule(lib, ctx, action: int, syscall: str, *conditions: tuple[int, int, int, int]) -> None:
    number = lib.seccomp_syscall_resolve_name(syscall.encode())
    if number < 0:  # not a syscall of this architecture (e.g. stime on x86-64)
        return
    array = (_ArgCmp * max(1, len(conditions)))(*[_ArgCmp(*c) for c in conditions])
    rc = lib.seccomp_rule_add_array(ctx, action, number, len(conditions), array)
    if rc < 0:
        raise OSError(-rc, f"libseccomp refused the rule for {syscall}")


@cache
def filter_bytes() -> bytes | None:
    """The compiled BPF filter, or None where libseccomp is not installed."""
    lib = _libseccomp()
    if lib is None:
        return None
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    try:
        eperm = _errno(errno.EPERM)
        for name in DENIED:
            _rule(lib, ctx, eperm, name)
        _rule(lib, ctx, eperm, "unshare", (0, SCMP_CMP_NE, JOB_NAMESPACES, 0))
        _rule(lib, ctx, _errno(errno.ENOSYS), "clone3")
        for flag in CLONE_NEW_FLAGS:
            _rule(lib, ctx, eperm, "clone", (0, SCMP_CMP_MASKED_EQ, flag, flag))
        _rule(lib, ctx, eperm, "prlimit64", (0, SCMP_CMP_NE, 0, 0), (2, SCMP_CMP_NE, 0, 0))
        _rule(lib, ctx, eperm, "setpriority", (0, SCMP_CMP_NE, PRIO_PROCESS, 0))
        _rule(lib, ctx, eperm, "setpriority", (1, SCMP_CMP_NE, 0, 0))
        _rule(lib, ctx, eperm, "ioprio_set", (0, SCMP_CMP_NE, IOPRIO_WHO_PROCESS, 0))
        _rule(lib, ctx, eperm, "ioprio_set", (1, SCMP_CMP_NE, 0, 0))
        for name in SELF_ONLY:
            _rule(lib, ctx, eperm, name, (0, SCMP_CMP_NE, 0, 0))
        for family in (AF_NETLINK, AF_PACKET, AF_VSOCK):
            _rule(lib, ctx, eperm, "socket", (0, SCMP_CMP_EQ, family, 0))
        _rule(lib, ctx, eperm, "socket", (1, SCMP_CMP_MASKED_EQ, SOCK_TYPE_MASK, SOCK_RAW))
        for request in (TIOCSTI, TIOCLINUX):
            _rule(lib, ctx, eperm, "ioctl", (1, SCMP_CMP_MASKED_EQ, 0xFFFFFFFF, request))
        with tempfile.TemporaryFile() as f:
            rc = lib.seccomp_export_bpf(ctx, f.fileno())
            if rc < 0:
                raise OSError(-rc, "seccomp_export_bpf failed")
            f.seek(0)
            return f.read()
    finally:
        lib.seccomp_release(ctx)


def filter_fd() -> int | None:
    """A fresh readable fd holding the filter (bubblewrap reads it to the end), or None without libseccomp."""
    data = filter_bytes()
    if data is None:
        return None
    read_end, write_end = os.pipe()
    os.write(write_end, data)  # a few KiB: fits in the pipe buffer
    os.close(write_end)
    return read_end
