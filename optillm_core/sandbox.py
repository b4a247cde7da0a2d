"""Run untrusted (LLM-written) Python in a locked-down subprocess.

Every approach that executes code (``z3``, ``coc``, ``executecode``) goes through
:class:`Sandbox`; nothing ever runs ``exec`` on model output inside the proxy. One run is a
separate ``python -I -S`` process with an empty environment, stdin holding only the program,
a fresh working directory, resource limits (CPU, address space, file size, processes, open
files, no core dumps) and a wall-clock limit that kills the whole process tree. Where
``unshare`` works it also gets a new network namespace (no network at all, loopback
included), a new PID namespace (nothing outlives the run), a private size-capped ``/tmp`` over
a read-only view of the host filesystem and, when the proxy runs as root, an unprivileged
uid with ``no_new_privs``. Without network isolation :meth:`Sandbox.run` refuses to run
unless the operator set ``allow_no_network_isolation``. See ``docs/security.md``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields

import anyio

from ._sandbox_launch import Isolation, IsolationMode, Launcher, SandboxSetupFailed
from ._sandbox_runner import Outcome
from .errors import OptillmError

__all__ = [
    "Isolation",
    "IsolationMode",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "SandboxOptions",
    "SandboxResult",
    "SandboxUnavailable",
    "sandbox_available",
]

logger = logging.getLogger(__name__)

_MiB = 1 << 20
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PROBE_TIMEOUT = 10.0
_PROBE_CODE = """
import errno, json, os, socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", 9))
    net = "connected"
except OSError as exc:
    net = errno.errorcode.get(exc.errno or 0, str(exc))
print(json.dumps({"uid": os.getuid(), "net": net,
                  "interfaces": [n for _, n in socket.if_nameindex()],
                  "python": "%d.%d.%d" % sys.version_info[:3]}))
"""


class SandboxError(OptillmError):
    """The sandbox itself could not be set up (never raised for what the code does)."""

    code = "sandbox_error"


class SandboxUnavailable(SandboxError):
    """The required isolation is not available here and the operator did not waive it (503)."""

    status = 503
    code = "sandbox_unavailable"


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run resource limits. All must be positive.

    ``timeout`` is wall-clock seconds for the whole run (a run may override it);
    ``cpu_seconds`` is ``RLIMIT_CPU`` per process; ``memory_bytes`` is ``RLIMIT_AS``;
    ``file_size_bytes`` is ``RLIMIT_FSIZE``; ``max_processes`` is ``RLIMIT_NPROC`` of the
    sandbox uid (threads count); ``max_open_files`` is ``RLIMIT_NOFILE``; ``output_bytes``
    caps stdout and stderr each; ``tmp_bytes`` caps the private ``/tmp`` (working directory
    included) when the private filesystem is active.
    """

    timeout: float = 30.0
    cpu_seconds: int = 30
    memory_bytes: int = 1 << 30
    file_size_bytes: int = 16 * _MiB
    max_processes: int = 32
    max_open_files: int = 64
    output_bytes: int = 64 * 1024
    tmp_bytes: int = 64 * _MiB

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
                raise ValueError(f"SandboxLimits.{f.name} must be positive, got {value!r}")


@dataclass(frozen=True)
class SandboxOptions:
    """How the sandbox isolates code; operators set these, approaches do not.

    ``allow_no_network_isolation`` is the operator's explicit waiver: without it a host where
    no network namespace can be created refuses to run code. ``namespaces=False`` skips
    ``unshare`` (then the waiver is needed). ``private_filesystem`` mounts the private
    ``/tmp`` and remounts the host filesystem read-only inside the sandbox. ``user`` is the
    account code runs as when the proxy is root (a name, or a uid that need not be listed in
    ``/etc/passwd``: a uid of its own gives the sandbox a process count of its own). ``python`` defaults to the proxy's
    interpreter, ``site_paths`` to its site-packages (offered to code only when a
    third-party module is allowed). ``denied_modules`` are stdlib modules the program may not
    import unless a run names them. ``max_concurrent`` bounds simultaneous runs.
    """

    allow_no_network_isolation: bool = False
    namespaces: bool = True
    private_filesystem: bool = True
    user: str | int = "nobody"
    python: str | None = None
    unshare: str | None = None
    setpriv: str | None = None
    site_paths: tuple[str, ...] | None = None
    denied_modules: tuple[str, ...] = ("ctypes", "_ctypes")
    work_root: str | None = None
    max_concurrent: int = 4
    nice: int = 10


@dataclass(frozen=True)
class SandboxResult:
    """What one run did. ``exit_code`` is negative (``-signal``) when a signal ended it.

    ``timed_out``: the wall-clock limit was hit; ``killed``: a signal ended the program (the
    sandbox's timeout kill or a resource limit); ``truncated``: stdout or stderr exceeded
    ``output_bytes`` and the rest was discarded.
    """

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    killed: bool
    truncated: bool
    duration: float
    isolation: Isolation

    @property
    def ok(self) -> bool:
        """The program exited with status 0 within its limits."""
        return self.exit_code == 0 and not self.timed_out


class Sandbox:
    """Runs Python source in isolated, resource-limited subprocesses.

    Build one per application (its probe result and concurrency limit live on it) and share
    it between requests.
    """

    def __init__(
        self, limits: SandboxLimits | None = None, options: SandboxOptions | None = None
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.options = options or SandboxOptions()
        self._launcher = Launcher(self.options)
        self._isolation: Isolation | None = None
        self._probe_lock: anyio.Lock | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    async def probe(self) -> Isolation:
        """Find out (once; cached on this object) which isolation layers work here.

        Raises :class:`SandboxError` when not even a plain subprocess can run code.
        """
        if self._isolation is None:
            if self._probe_lock is None:
                self._probe_lock = anyio.Lock()
            async with self._probe_lock:
                if self._isolation is None:
                    self._isolation = await self._detect()
        return self._isolation

    async def available(self) -> bool:
        """Whether :meth:`run` will run code (network isolated, or the operator waived it)."""
        try:
            isolation = await self.probe()
        except SandboxError:
            return False
        return isolation.network or self.options.allow_no_network_isolation

    async def run(
        self,
        code: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the program's limit, not the caller's
        allowed_modules: Sequence[str] = (),
        stdin: str | bytes | None = None,
    ) -> SandboxResult:
        """Run ``code`` as the ``__main__`` module of a sandboxed interpreter.

        ``allowed_modules`` names extra modules (and their submodules) the program may
        import: third-party packages such as ``z3`` or ``sympy``, or a stdlib module from
        ``denied_modules``. ``stdin`` is what the program's ``input()`` reads (EOF after).
        Never raises for anything the program does; raises :class:`SandboxUnavailable` when
        the isolation is insufficient and :class:`SandboxError` when setup fails.
        Cancelling the caller kills the program's whole process tree.
        """
        wall = self.limits.timeout if timeout is None else timeout
        if not wall > 0 or not math.isfinite(wall):
            raise ValueError(f"timeout must be positive, got {wall!r}")
        for name in allowed_modules:
            if not _MODULE_NAME.match(name):
                raise ValueError(f"not a module name: {name!r}")
        isolation = await self.probe()
        if not isolation.network and not self.options.allow_no_network_isolation:
            # The message reaches the client: no host details (they are in the probe's log).
            raise SandboxUnavailable(
                "code execution is unavailable: this server cannot cut sandboxed code off the "
                "network (its operator may accept that with allow_no_network_isolation)"
            )
        data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.options.max_concurrent)
        async with self._limiter:
            started = anyio.current_time()
            try:
                outcome = await self._launcher.execute(
                    isolation.mode,
                    isolation.python,
                    code,
                    self.limits,
                    wall,
                    tuple(allowed_modules),
                    data,
                )
            except SandboxSetupFailed as exc:
                logger.error("sandbox setup failed: %s", exc)
                raise SandboxError("the code sandbox failed to start") from exc
            duration = anyio.current_time() - started
        return _result(outcome, isolation, duration)

    async def _detect(self) -> Isolation:
        notes: list[str] = []
        launcher = self._launcher
        limits = SandboxLimits()  # the probe must not fail for an operator's tight limits
        for mode in launcher.candidate_modes(notes):
            for python in launcher.candidate_pythons():
                try:
                    outcome = await launcher.execute(
                        mode, python, _PROBE_CODE, limits, _PROBE_TIMEOUT, (), b""
                    )
                except SandboxSetupFailed as exc:
                    notes.append(f"{mode} with {python}: {exc}")
                    continue
                isolation = launcher.judge(mode, python, outcome, notes)
                if isolation is not None:
                    logger.info(
                        "code sandbox: mode %s, layers %s, python %s%s",
                        isolation.mode,
                        ", ".join(isolation.layers),
                        isolation.python,
                        "".join(f"; {note}" for note in isolation.notes),
                    )
                    return isolation
        logger.error("code sandbox unusable: %s", "; ".join(notes))
        raise SandboxError("the code sandbox cannot run code on this host")


async def sandbox_available(options: SandboxOptions | None = None) -> bool:
    """Whether a :class:`Sandbox` with ``options`` would run code on this host."""
    return await Sandbox(options=options).available()


def _result(outcome: Outcome, isolation: Isolation, duration: float) -> SandboxResult:
    status = outcome.status
    timed_out = outcome.timed_out
    if status is None:
        code = outcome.returncode
        if isolation.mode != IsolationMode.PROCESS and not timed_out:
            code = _init_exit_code(code)
    else:
        code = int(status["returncode"])
        timed_out = timed_out or bool(status.get("deadline"))
    return SandboxResult(
        exit_code=code,
        stdout=outcome.stdout.decode("utf-8", "replace"),
        stderr=outcome.stderr.decode("utf-8", "replace"),
        timed_out=timed_out,
        killed=code < 0,
        truncated=outcome.truncated,
        duration=duration,
        isolation=isolation,
    )


def _init_exit_code(code: int) -> int:
    """Decode the init's exit status when its status line is missing (128+N = signal N)."""
    return 128 - code if code > 128 else code
