"""Build sandbox commands for each isolation mode and judge what the probe found.

Internal to :mod:`optillm_core.sandbox`.
"""

from __future__ import annotations

import enum
import json
import os
import pwd
import secrets
import shutil
import site
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio

from ._sandbox_runner import Launch, Outcome, execute

if TYPE_CHECKING:
    from .sandbox import SandboxLimits, SandboxOptions

_PATH = "/usr/local/bin:/usr/bin:/bin"
_DEADLINE_GRACE = 5.0
_INTERPRETER_FLAGS = ("-I", "-S", "-B", "-X", "utf8")
_MAX_ID = 2**32 - 1
#: Where the namespace init binds site-packages directories (inside the private /tmp).
_SITE_MOUNTS = "/tmp/.optillm-site"


class IsolationMode(enum.StrEnum):
    """How a run is isolated, strongest first."""

    #: root: ``unshare`` net/pid/mount namespaces, then an unprivileged uid.
    NAMESPACES = "namespaces"
    #: not root: the same namespaces inside an unprivileged user namespace; the code keeps
    #: the proxy's own uid on the host.
    USER_NAMESPACES = "user-namespaces"
    #: a plain subprocess with limits; no network, PID or filesystem isolation.
    PROCESS = "process"


@dataclass(frozen=True)
class Isolation:
    """The isolation layers a sandbox run actually gets on this host (found by the probe)."""

    mode: IsolationMode
    #: No network at all (a new network namespace with only a down loopback).
    network: bool
    #: Own PID namespace: every process of a run dies when the run ends.
    pid_namespace: bool
    #: Private size-capped /tmp, /var/tmp, /dev/shm (the working directory lives there).
    private_tmp: bool
    #: The host filesystem is mounted read-only inside the sandbox.
    read_only_fs: bool
    #: The host uid the code runs as.
    uid: int
    #: The code runs as a different (unprivileged) uid than the proxy.
    privileges_dropped: bool
    #: The interpreter used, and its version as the unprivileged user runs it.
    python: str
    python_version: str
    notes: tuple[str, ...] = ()

    @property
    def layers(self) -> tuple[str, ...]:
        """Names of the active layers, always-on ones included."""
        flags = {
            "network-namespace": self.network,
            "pid-namespace": self.pid_namespace,
            "private-tmp": self.private_tmp,
            "read-only-fs": self.read_only_fs,
            "unprivileged-uid": self.privileges_dropped,
        }
        always = ("subprocess", "rlimits", "empty-env", "temp-workdir", "import-filter")
        return always + tuple(name for name, on in flags.items() if on)


class SandboxSetupFailed(Exception):
    """The sandbox could not start the program (not the program's fault)."""


def _default_site_paths() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    candidates = [*site.getsitepackages(), paths["purelib"], paths["platlib"]]
    candidates += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    seen: list[str] = []
    for path in candidates:
        if path not in seen and os.path.isdir(path):
            seen.append(path)
    return tuple(seen)


def _third_party(allowed: tuple[str, ...]) -> bool:
    """Whether a run may import a module from outside the standard library."""
    return any(name.partition(".")[0] not in sys.stdlib_module_names for name in allowed)


def _source(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


class Launcher:
    """Turns (mode, program, limits) into a supervised command."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self._sources: tuple[str, str] | None = None
        self._site_paths: tuple[str, ...] = ()

    def candidate_modes(self, notes: list[str]) -> list[IsolationMode]:
        """Modes worth probing, strongest first."""
        modes: list[IsolationMode] = []
        if not self.options.namespaces:
            notes.append("namespaces disabled by configuration")
        elif self._unshare() is None:
            notes.append("unshare not found")
        else:
            modes.append(
                IsolationMode.NAMESPACES if os.geteuid() == 0 else IsolationMode.USER_NAMESPACES
            )
        return [*modes, IsolationMode.PROCESS]

    def candidate_pythons(self) -> list[str]:
        """Interpreters to try: the configured one, else the proxy's and the system's.

        The proxy's own interpreter may live where the unprivileged user cannot read it
        (e.g. under ``/root``), so same-version system interpreters follow it.
        """
        if self.options.python:
            return [self.options.python]
        version = "{}.{}".format(*sys.version_info[:2])
        found = [
            sys.executable,
            os.path.realpath(sys.executable),
            getattr(sys, "_base_executable", ""),
            f"/usr/bin/python{version}",
            f"/usr/local/bin/python{version}",
            "/usr/bin/python3",
        ]
        unique: list[str] = []
        for path in found:
            if path and path not in unique and os.access(path, os.X_OK):
                unique.append(path)
        return unique

    def judge(
        self, mode: IsolationMode, python: str, outcome: Outcome, notes: list[str]
    ) -> Isolation | None:
        """Read the probe program's report; None (with a note) when the mode is unusable."""
        try:
            report: dict[str, Any] = json.loads(outcome.stdout)
        except ValueError:
            err = outcome.stderr.decode("utf-8", "replace").strip()[-300:]
            notes.append(f"{mode} with {python}: probe failed (exit {outcome.returncode}): {err}")
            return None
        status = outcome.status or {}
        isolated = report["net"] == "ENETUNREACH" and report["interfaces"] == ["lo"]
        if mode is not IsolationMode.PROCESS and not isolated:
            notes.append(f"{mode}: network still reachable ({report['net']})")
            return None
        if mode is IsolationMode.PROCESS:
            notes.append("no network, PID or filesystem isolation (plain subprocess)")
        if report["python"].rsplit(".", 1)[0] != "{}.{}".format(*sys.version_info[:2]):
            notes.append(f"sandbox python is {report['python']}; site-packages may not import")
        # Inside a user namespace the program sees uid 0, but on the host it is the proxy's uid.
        host_uid = os.geteuid() if mode is IsolationMode.USER_NAMESPACES else int(report["uid"])
        return Isolation(
            mode=mode,
            python=python,
            network=mode is not IsolationMode.PROCESS and isolated,
            pid_namespace=bool(status.get("pid1")),
            private_tmp=bool(status.get("private_tmp")),
            read_only_fs=bool(status.get("read_only_fs")),
            uid=host_uid,
            privileges_dropped=host_uid != os.geteuid(),
            python_version=report["python"],
            notes=tuple(notes),
        )

    async def execute(
        self,
        mode: IsolationMode,
        python: str,
        code: str,
        limits: SandboxLimits,
        wall_limit: float,
        allowed: tuple[str, ...],
        stdin: bytes,
    ) -> Outcome:
        """Run ``code`` in ``mode``; the host working directory (if any) is removed after."""
        if self._sources is None:
            self._sources = await anyio.to_thread.run_sync(self._load)
        program = code.encode("utf-8", "surrogatepass")
        payload = b"%d\n" % len(program) + program + stdin
        identity = None if mode is IsolationMode.USER_NAMESPACES else self._identity()
        private = self.options.private_filesystem and mode is not IsolationMode.PROCESS
        host_dir: str | None = None
        try:
            if not private:
                host_dir = await anyio.to_thread.run_sync(self._host_dir, identity)
            launch = self._build(mode, python, limits, wall_limit, allowed, identity, host_dir)
            outcome = await execute(launch, payload, wall_limit, limits.output_bytes)
        except OSError as exc:
            raise SandboxSetupFailed(f"cannot start the sandbox: {exc}") from exc
        finally:
            if host_dir is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(shutil.rmtree, host_dir, True)
        if outcome.status is not None and not outcome.status.get("ok"):
            raise SandboxSetupFailed(str(outcome.status.get("error")))
        return outcome

    def _load(self) -> tuple[str, str]:
        configured = self.options.site_paths
        self._site_paths = _default_site_paths() if configured is None else configured
        return _source("_sandbox_init.py"), _source("_sandbox_child.py")

    def _unshare(self) -> str | None:
        return self.options.unshare or shutil.which("unshare", path=_PATH)

    def _identity(self) -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        user = self.options.user
        if isinstance(user, int):
            if not 0 < user < _MAX_ID:
                raise SandboxSetupFailed(f"not a usable uid for sandboxed code: {user}")
            try:
                return user, pwd.getpwuid(user).pw_gid
            except KeyError:
                return user, user  # an unlisted uid is fine: it owns nothing on the host
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise SandboxSetupFailed(f"no such user for sandboxed code: {user!r}") from None
        if entry.pw_uid == 0:
            raise SandboxSetupFailed("refusing to run sandboxed code as root")
        return entry.pw_uid, entry.pw_gid

    def _child_argv(
        self, python: str, limits: SandboxLimits, allowed: tuple[str, ...], site_paths: list[str]
    ) -> list[str]:
        assert self._sources is not None
        cfg = {
            "rlimits": [
                ("RLIMIT_CPU", limits.cpu_seconds, limits.cpu_seconds + 1),
                ("RLIMIT_AS", limits.memory_bytes, limits.memory_bytes),
                ("RLIMIT_FSIZE", limits.file_size_bytes, limits.file_size_bytes),
                ("RLIMIT_NPROC", limits.max_processes, limits.max_processes),
                ("RLIMIT_NOFILE", limits.max_open_files, limits.max_open_files),
                ("RLIMIT_CORE", 0, 0),
            ],
            "nice": self.options.nice,
            "allowed": list(allowed),
            "denied": list(self.options.denied_modules),
            "site_paths": site_paths,
        }
        return [python, *_INTERPRETER_FLAGS, "-u", "-c", self._sources[1], json.dumps(cfg)]

    def _host_dir(self, identity: tuple[int, int] | None) -> str:
        path = tempfile.mkdtemp(prefix="optillm-sandbox-", dir=self.options.work_root)
        if identity is not None:
            os.chown(path, *identity)
        return path

    def _build(
        self,
        mode: IsolationMode,
        python: str,
        limits: SandboxLimits,
        wall_limit: float,
        allowed: tuple[str, ...],
        identity: tuple[int, int] | None,
        host_dir: str | None,
    ) -> Launch:
        token = secrets.token_hex(8)
        workdir = host_dir or f"/tmp/optillm-sandbox-{token}"
        env = {"PATH": _PATH, "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": "/tmp"}
        site_paths = list(self._site_paths)
        binds: list[tuple[str, str]] = []
        if mode is not IsolationMode.PROCESS and _third_party(allowed):
            # The sandbox uid may not be able to enter the proxy's site-packages (a venv under
            # /root), and the private /tmp hides one under /tmp: the namespace's init, still
            # privileged, binds each read-only at a place the program can reach.
            base = _SITE_MOUNTS if host_dir is None else os.path.join(host_dir, ".optillm-site")
            binds = [(path, f"{base}/{i}") for i, path in enumerate(site_paths)]
            site_paths = [target for _, target in binds]
        child = self._child_argv(python, limits, allowed, site_paths)
        if mode is IsolationMode.PROCESS:
            return self._process_launch(child, env, workdir, identity, token)
        read_fd, write_fd = os.pipe()
        init_cfg = {
            "status_fd": write_fd,
            "deadline": wall_limit + _DEADLINE_GRACE,
            "uid": identity and identity[0],
            "gid": identity and identity[1],
            "private_fs": host_dir is None,
            "binds": binds,
            "tmp_bytes": limits.tmp_bytes,
            "workdir": workdir,
            "argv": child,
            "env": env,
        }
        unshare = self._unshare()
        assert unshare is not None
        assert self._sources is not None
        userns = ["--user", "--map-root-user"] if mode is IsolationMode.USER_NAMESPACES else []
        argv = (
            unshare,
            *userns,
            *("--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
            *("--mount", "--propagation", "private", "--"),
            *(python, *_INTERPRETER_FLAGS, "-c", self._sources[0], json.dumps(init_cfg)),
        )
        return Launch(
            argv=argv,
            env={"PATH": _PATH, "LANG": "C.UTF-8"},
            cwd="/",
            status_fd=read_fd,
            status_fd_child=write_fd,
        )

    def _process_launch(
        self,
        child: list[str],
        env: dict[str, str],
        workdir: str,
        identity: tuple[int, int] | None,
        token: str,
    ) -> Launch:
        setpriv = self.options.setpriv or shutil.which("setpriv", path=_PATH)
        prefix: list[str] = []
        spawn_kwargs: dict[str, Any] = {}
        if setpriv is not None:
            prefix = [setpriv, "--no-new-privs"]
            if identity is not None:
                uid, gid = identity
                prefix += ["--reuid", str(uid), "--regid", str(gid), "--clear-groups"]
            prefix.append("--")
        elif identity is not None:
            spawn_kwargs = {"user": identity[0], "group": identity[1], "extra_groups": []}
        return Launch(
            argv=(*prefix, *child),
            env={**env, "OPTILLM_SANDBOX_RUN": token},
            cwd=workdir,
            sweep_token=token,
            spawn_kwargs=spawn_kwargs,
        )
