"""Run a command under the seccomp filters that the systemd unit asks for, without systemd.

    python tests/ops/ops_seccomp_sandbox.py [--allow GROUP ...] [--deny GROUP ...] [--mdwe] -- COMMAND [ARG ...]

systemd's `SystemCallFilter=` and `MemoryDenyWriteExecute=` are seccomp filters installed before
exec. This script installs the same kind of filters with libseccomp (ctypes, the library systemd
itself links) and then execs COMMAND, so a test can check that the daemon's Python, NumPy,
TensorFlow and liblsl work under the unit's settings on a machine where systemd is not PID 1:

- ``--allow``: an allow list built from `systemd-analyze syscall-filter GROUP` (groups expanded
  recursively); anything else fails with EPERM, as with `SystemCallErrorNumber=EPERM`.
- ``--deny``: groups removed from the allow list (`SystemCallFilter=~GROUP`).
- ``--families``: `RestrictAddressFamilies=` as systemd does it: socket() with any other address
  family fails with EAFNOSUPPORT (names like AF_UNIX AF_INET).
- ``--mdwe``: systemd's MemoryDenyWriteExecute filter: mmap with PROT_WRITE|PROT_EXEC, mprotect and
  pkey_mprotect adding PROT_EXEC, and shmat with SHM_EXEC fail with EPERM.

Both are separate filters, as systemd installs them; the kernel applies the most restrictive answer.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import os
import re
import subprocess
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000
AF_MAX = 46  # Linux's AF_MAX (include/linux/socket.h); families are 0..AF_MAX-1


def SCMP_ACT_ERRNO(code: int) -> int:  # named as libseccomp's macro
    return 0x00050000 | (code & 0xFFFF)


class ScmpArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def expand_groups(groups: list[str]) -> set[str]:
    """Syscall names in systemd's groups (``@name``) or plain names, expanded recursively."""
    names: set[str] = set()
    seen: set[str] = set()
    todo = list(groups)
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        if not item.startswith("@"):
            names.add(item)
            continue
        out = subprocess.run(
            ["systemd-analyze", "syscall-filter", item], check=True, capture_output=True, text=True
        ).stdout
        for line in out.splitlines()[1:]:
            line = line.strip()
            if line and not line.startswith("#") and re.fullmatch(r"@?[a-z0-9_-]+", line):
                todo.append(line)
    return names


def _lib():
    path = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    lib = ctypes.CDLL(path, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ScmpArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise OSError(-rc, f"libseccomp: {what}: {os.strerror(-rc)}")


def install_allow_list(lib, names: set[str]) -> int:
    ctx = lib.seccomp_init(SCMP_ACT_ERRNO(errno.EPERM))
    added = 0
    for name in sorted(names):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not a syscall on this architecture
            continue
        _check(lib.seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 0, None), f"allow {name}")
        added += 1
    _check(lib.seccomp_load(ctx), "load allow list")
    lib.seccomp_release(ctx)
    return added


def install_mdwe(lib) -> None:
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    rules = [
        ("mmap", 2, PROT_WRITE | PROT_EXEC),
        ("mprotect", 2, PROT_EXEC),
        ("pkey_mprotect", 2, PROT_EXEC),
        ("shmat", 2, SHM_EXEC),
    ]
    for name, arg, mask in rules:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            continue
        cmp = ScmpArgCmp(arg, SCMP_CMP_MASKED_EQ, mask, mask)
        _check(lib.seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(errno.EPERM), nr, 1, ctypes.byref(cmp)), f"mdwe {name}")
    _check(lib.seccomp_load(ctx), "load MemoryDenyWriteExecute filter")
    lib.seccomp_release(ctx)


def install_address_families(lib, families: list[str]) -> None:
    import socket

    allowed = set()
    for name in families:
        value = getattr(socket, name, None)
        if not isinstance(value, int):
            raise ValueError(f"unknown address family {name!r}")
        allowed.add(int(value))
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    nr = lib.seccomp_syscall_resolve_name(b"socket")
    for family in range(AF_MAX + 1):
        if family in allowed:
            continue
        cmp = ScmpArgCmp(0, 4, family, 0)  # SCMP_CMP_EQ
        _check(
            lib.seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(errno.EAFNOSUPPORT), nr, 1, ctypes.byref(cmp)),
            f"address family {family}",
        )
    _check(lib.seccomp_load(ctx), "load RestrictAddressFamilies filter")
    lib.seccomp_release(ctx)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow", action="append", default=[], help="syscall group or name to allow")
    parser.add_argument("--deny", action="append", default=[], help="syscall group or name to remove")
    parser.add_argument("--mdwe", action="store_true", help="MemoryDenyWriteExecute=yes")
    parser.add_argument("--families", nargs="+", metavar="AF_NAME", help="RestrictAddressFamilies= allow list")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    lib = _lib()
    # Resolve groups (runs systemd-analyze) before any filter is in place.
    allowed = expand_groups(args.allow) - expand_groups(args.deny) if args.allow else None
    if allowed is not None:
        # systemd keeps the calls it needs itself to exec the service; execve must stay allowed here.
        allowed |= {"execve", "execveat", "exit", "exit_group"}
    if args.mdwe:
        install_mdwe(lib)
    if args.families:
        install_address_families(lib, args.families)
    if allowed is not None:
        install_allow_list(lib, allowed)
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
