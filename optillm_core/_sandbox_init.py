"""Sandbox namespace init: the first process inside the sandbox's namespaces.

Not imported by the proxy: :mod:`optillm_core.sandbox` reads this file's source and runs it
with ``python -I -S -c`` under ``unshare --net --pid --fork --mount ...``, so it is PID 1 of a
fresh PID namespace and still privileged *inside* the namespaces. It

1. makes the filesystem private: every mount (except ``/proc``, ``/sys``, ``/dev``) is
   remounted read-only for this mount namespace only, and one size-capped tmpfs is mounted on
   ``/tmp`` and bound onto ``/var/tmp``, ``/dev/shm`` and ``/run/lock``;
2. creates the working directory inside that tmpfs, owned by the unprivileged user;
   when the run may import third-party packages and drops to another uid, bind-mounts each
   site-packages directory read-only at ``<base>/<i>`` (``base`` inside the private tmpfs, or
   inside the host working directory), so the unprivileged user can import them even when
   they lie under a directory only the proxy's user may enter (a venv under ``/root``);
3. starts the bootstrap as that user (``setgroups([])``, ``setresgid``, ``setresuid``,
   ``PR_SET_NO_NEW_PRIVS``) and waits for it, at most until its own deadline;
4. writes one JSON status line to the status pipe and exits.

When it exits, the kernel kills every process left in the PID namespace, and the mount
namespace with its tmpfs disappears. The user code cannot signal it (different uid).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
import sys
from typing import Any

_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_NOATIME = 1024
_MS_NODIRATIME = 2048
_MS_BIND = 4096
_MS_RELATIME = 1 << 21
_PR_SET_NO_NEW_PRIVS = 38
_KEPT_FLAGS = (
    (os.ST_NOSUID, _MS_NOSUID),
    (os.ST_NODEV, _MS_NODEV),
    (os.ST_NOEXEC, _MS_NOEXEC),
    (os.ST_NOATIME, _MS_NOATIME),
    (os.ST_NODIRATIME, _MS_NODIRATIME),
    (os.ST_RELATIME, _MS_RELATIME),
)
_SKIPPED_TREES = ("/proc", "/sys", "/dev")
_SHARED_TMP_DIRS = ("/var/tmp", "/dev/shm", "/run/lock")


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    ]
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    return libc


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int, data: str
) -> None:
    def enc(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data or None)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4])
            if not any(point == t or point.startswith(t + "/") for t in _SKIPPED_TREES):
                points.append(point)
    return points


def _remount_read_only(libc: ctypes.CDLL) -> bool:
    complete = True
    for point in _mount_points():
        try:
            st_flags = os.statvfs(point).f_flag
            flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY
            for st_bit, ms_bit in _KEPT_FLAGS:
                if st_flags & st_bit:
                    flags |= ms_bit
            _mount(libc, None, point, None, flags, "")
        except OSError:
            complete = False
    return complete


def _private_tmp(libc: ctypes.CDLL, size: int) -> None:
    _mount(libc, "tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size},mode=1777")
    for target in _SHARED_TMP_DIRS:
        if os.path.isdir(target) and not os.path.islink(target):
            source = "/tmp/." + target.strip("/").replace("/", "-")
            os.mkdir(source)
            os.chmod(source, 0o1777)
            _mount(libc, source, target, None, _MS_BIND, "")


def _open_sources(binds: list[list[str]]) -> list[tuple[int, str]]:
    """Open each bind source (before the private /tmp may hide it); missing ones are skipped."""
    opened = []
    for source, target in binds:
        try:
            opened.append((os.open(source, os.O_PATH | os.O_DIRECTORY), target))
        except OSError:
            continue
    return opened


def _bind_read_only(libc: ctypes.CDLL, sources: list[tuple[int, str]]) -> None:
    """Bind each opened source directory read-only at its target."""
    for fd, target in sources:
        os.makedirs(target, 0o755, exist_ok=True)
        os.chmod(os.path.dirname(target), 0o755)  # makedirs honours the umask
        _mount(libc, f"/proc/self/fd/{fd}", target, None, _MS_BIND, "")
        os.close(fd)
        flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY
        st_flags = os.statvfs(target).f_flag
        for st_bit, ms_bit in _KEPT_FLAGS:
            if st_flags & st_bit:
                flags |= ms_bit
        _mount(libc, None, target, None, flags, "")


def _prepare(cfg: dict[str, Any], libc: ctypes.CDLL) -> dict[str, Any]:
    layers: dict[str, Any] = {
        "pid1": os.getpid() == 1,
        "read_only_fs": False,
        "private_tmp": cfg["private_fs"],
    }
    sources = _open_sources(cfg["binds"])
    if cfg["private_fs"]:
        layers["read_only_fs"] = _remount_read_only(libc)
        _private_tmp(libc, cfg["tmp_bytes"])
        os.mkdir(cfg["workdir"], 0o700)
    _bind_read_only(libc, sources)
    if cfg["uid"] is not None:
        os.chown(cfg["workdir"], cfg["uid"], cfg["gid"])
    return layers


def _spawn(cfg: dict[str, Any], libc: ctypes.CDLL) -> subprocess.Popen[bytes]:
    def no_new_privs() -> None:
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")

    drop: dict[str, Any] = {}
    if cfg["uid"] is not None:
        drop = {"user": cfg["uid"], "group": cfg["gid"], "extra_groups": []}
    return subprocess.Popen(
        cfg["argv"],
        cwd=cfg["workdir"],
        env=cfg["env"],
        close_fds=True,
        preexec_fn=no_new_privs,  # safe: this init process is single-threaded
        **drop,
    )


def main() -> None:
    """Set up the namespaces' filesystem, run the bootstrap, report its fate."""
    cfg: dict[str, Any] = json.loads(sys.argv[1])
    status_fd: int = cfg["status_fd"]

    def report(status: dict[str, Any]) -> None:
        os.write(status_fd, json.dumps(status).encode() + b"\n")

    libc = _libc()
    try:
        layers = _prepare(cfg, libc)
        child = _spawn(cfg, libc)
    except (OSError, subprocess.SubprocessError) as exc:
        report({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        os._exit(125)
    deadline = False
    try:
        child.wait(timeout=cfg["deadline"])
    except subprocess.TimeoutExpired:
        deadline = True
        child.kill()
        child.wait()
    report({"ok": True, "returncode": child.returncode, "deadline": deadline, **layers})
    code = child.returncode
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
