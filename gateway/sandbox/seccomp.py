"""The seccomp filter every sandboxed program runs under: system calls a data-analysis program never needs,
and that would widen the kernel's attack surface, fail with `EPERM` (a clean `PermissionError` the code
and the model see, not a killed process); everything else is allowed, so Python, numpy, pandas and
matplotlib work as usual.

The filter is compiled by libseccomp (Debian's `libseccomp2`, the library Docker/runc, systemd and
Flatpak's bubblewrap use), through `pyseccomp` (a ctypes binding, API-compatible with libseccomp's own
Python bindings); `build` returns the BPF program as bytes, `memfd` holds it in a sealed memory file for
bubblewrap's `--seccomp FD`, which loads it (with `no_new_privs`) just before it starts the program.

The policy follows Docker's default profile for a container without capabilities (moby/profiles,
`seccomp/default_linux.go`), written as a deny list since the rest must run: Docker refuses what it does
not list, with `EPERM` too. Where this one differs: ptrace, process_vm_readv/writev are refused (Docker
allows them on kernels 4.8 and later); `socket` is allowed for AF_UNIX alone (Docker refuses only
AF_VSOCK and AF_ALG): the network namespace already leaves nothing but a loopback, this is depth behind
it; `personality` only keeps PER_LINUX and the query (Docker also allows PER_LINUX32 and UNAME26);
`name_to_handle_at` is refused (Docker allows it); calls neither list names (newer ones, such as Linux
6.8's LSM calls, unknown to Debian 12's libseccomp) are allowed here, refused there. Docker's extra
architectures (x86 and x32 on x86_64) are not added: the filter holds the native architecture alone, and
libseccomp's program refuses any other (a 32-bit `int 0x80` call, the x32 ABI's system call numbers) by
killing the process (`ACT_BADARCH`: SIGSYS): libseccomp's default handling, but the whole process rather
than the thread.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from typing import Any, Final

from gateway.sandbox.bwrap import SandboxMissing

# Refused with EPERM, whatever their arguments; grouped as in Docker's profile, by the capability that
# would otherwise be needed (all of them are dropped, so most would fail anyway: this keeps the kernel
# code behind them out of reach). Every name must be known to the installed libseccomp.
DENIED: Final = (
    # other processes' memory and descriptors (CAP_SYS_PTRACE in Docker's profile)
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_getfd",
    # namespaces and mounts (CAP_SYS_ADMIN): clone's namespace flags below
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "open_tree",
    "move_mount",
    "mount_setattr",
    "sethostname",
    "setdomainname",
    # the kernel's keyrings (not in Docker's allow list)
    "keyctl",
    "add_key",
    "request_key",
    # programs loaded into the kernel, tracing, and the io_uring and userfaultfd interfaces
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fanotify_init",
    "lookup_dcookie",
    # the machine: kernel modules, kexec, reboot, swap, the kernel log, accounting, quotas, clocks
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "quotactl",
    "quotactl_fd",
    "settimeofday",
    "clock_settime",
    "iopl",
    "ioperm",
    "vhangup",
    # files opened by handle, bypassing paths (CAP_DAC_READ_SEARCH)
    "open_by_handle_at",
    "name_to_handle_at",
    # NUMA memory policy (CAP_SYS_NICE)
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "set_mempolicy_home_node",
    "migrate_pages",
    "move_pages",
    # obsolete interfaces
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "nfsservctl",
)

# clone() creating a namespace: refused, like Docker without CAP_SYS_ADMIN (plain fork, threads and
# vfork still work). clone3's flags are in a struct seccomp cannot read: it returns ENOSYS, and glibc
# falls back to clone (as with Docker's profile).
CLONE_NAMESPACES: Final = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


class SeccompMissing(SandboxMissing):
    """The seccomp filter cannot be built (libseccomp or its binding missing): code is never run
    without it."""


def build() -> bytes:
    """The filter, compiled to a BPF program for the native architecture (see the module doc)."""
    try:
        import pyseccomp as sc  # type: ignore[import-untyped]  # loads libseccomp.so.2
    except (ImportError, OSError, RuntimeError) as exc:
        raise SeccompMissing(
            f"the sandbox's seccomp filter cannot be built ({exc}): it needs libseccomp "
            "(apt-get install libseccomp2) and the pyseccomp package"
        ) from exc
    try:
        return _compile(sc)
    except (OSError, ValueError) as exc:
        raise SeccompMissing(f"the sandbox's seccomp filter cannot be built: {exc}") from exc


def _compile(sc: Any) -> bytes:
    def number(name: str) -> int:
        nr = int(sc.resolve_syscall(sc.Arch.NATIVE, name))
        if nr == -1:  # __NR_SCMP_ERROR: a name this libseccomp does not know
            raise ValueError(f"libseccomp does not know the system call {name!r}: upgrade libseccomp2")
        return nr

    refuse = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)  # the native architecture only
    flt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    for name in DENIED:
        flt.add_rule(refuse, number(name))
    # Each rule is one comparison per argument; several rules for one call are alternatives.
    for flag in CLONE_NAMESPACES:
        flt.add_rule(refuse, number("clone"), sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), number("clone3"))
    for name in ("socket", "socketpair"):
        flt.add_rule(refuse, number(name), sc.Arg(0, sc.NE, socket.AF_UNIX))
    # personality(): the kernel reads the low 32 bits. Refused unless they are PER_LINUX (all clear) or
    # the query (all set): a 32-bit word that is neither has, going round it, a set bit followed by a
    # clear one, so one rule per such pair of neighbouring bits covers exactly the refused values.
    for bit in range(32):
        pair = (1 << bit) | (1 << ((bit + 1) % 32))
        flt.add_rule(refuse, number("personality"), sc.Arg(0, sc.MASKED_EQ, pair, 1 << bit))
    with os.fdopen(os.memfd_create("seccomp-export", os.MFD_CLOEXEC), "w+b") as out:
        flt.export_bpf(out)
        out.seek(0)
        program = out.read()
    if not program or len(program) % 8:  # struct sock_filter: 8 bytes an instruction
        raise ValueError(f"libseccomp exported {len(program)} bytes, not a BPF program")
    return program


def memfd(program: bytes) -> int:
    """A new file descriptor reading `program` from its start, for one bubblewrap's `--seccomp FD`
    (which reads it to the end); sealed, so nothing can change it. The caller closes it once the
    process has started. Close-on-exec: only a process it is passed to (`pass_fds`) gets it."""
    fd = os.memfd_create("sandbox-seccomp", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(program)
        while view:
            view = view[os.write(fd, view) :]
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
