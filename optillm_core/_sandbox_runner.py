"""Run one prepared sandbox command: feed stdin, drain capped output, enforce the wall clock.

Internal to :mod:`optillm_core.sandbox`. The caller builds the command (:class:`Launch`); this
module starts it in a new session, kills the whole tree on timeout, error or cancellation, and
reads the namespace init's status line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, Process

_CHUNK = 65536
#: How long to keep reading output after the process tree is gone or killed.
_DRAIN_GRACE = 1.0
#: How long to wait for a SIGKILLed process to be reaped.
_REAP_GRACE = 5.0
_SWEEP_ROUNDS = 5


@dataclass(frozen=True)
class Launch:
    """A fully built sandbox command and how to supervise it."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    #: Read end of the init's status pipe (namespace modes), else None.
    status_fd: int | None = None
    #: Write end, passed to the init and closed here right after the spawn.
    status_fd_child: int | None = None
    #: Environment marker for the /proc sweep that finds escaped descendants (process mode).
    sweep_token: str | None = None
    #: ``user``/``group``/``extra_groups`` for the spawn (process mode without setpriv).
    spawn_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What happened to one launch."""

    returncode: int
    stdout: bytes
    stderr: bytes
    truncated: bool
    timed_out: bool
    status: dict[str, Any] | None


@dataclass
class _Capture:
    limit: int
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    done: anyio.Event = field(default_factory=anyio.Event)

    async def drain(self, stream: ByteReceiveStream) -> None:
        """Read until EOF, keeping at most ``limit`` bytes and discarding the rest."""
        try:
            while True:
                chunk = await stream.receive(_CHUNK)
                room = self.limit - len(self.data)
                if room > 0:
                    self.data += chunk[:room]
                if len(chunk) > room:
                    self.truncated = True
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            self.done.set()


async def _feed(stream: ByteSendStream, data: bytes) -> None:
    try:
        await stream.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    finally:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await stream.aclose()


def sweep(token: str) -> None:
    """SIGKILL every process whose environment carries ``token``, until none is left."""
    needle = f"OPTILLM_SANDBOX_RUN={token}".encode()
    for _ in range(_SWEEP_ROUNDS):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle not in fh.read():
                        continue
                os.kill(int(entry), signal.SIGKILL)
                found = True
            except OSError:
                continue
        if not found:
            return


def kill_tree(process: Process, launch: Launch) -> None:
    """SIGKILL the process group (and, in process mode, escaped descendants).

    The group is signalled only while its leader is unreaped, so its id cannot have been
    reused. In the namespace modes the group holds ``unshare`` and the namespace's init,
    whose death makes the kernel kill everything else in the PID namespace.
    """
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    if launch.sweep_token is not None:
        sweep(launch.sweep_token)


def _read_status(fd: int | None) -> dict[str, Any] | None:
    if fd is None:
        return None
    try:
        os.set_blocking(fd, False)
        raw = os.read(fd, 65536)
    except OSError:
        return None
    try:
        status: dict[str, Any] = json.loads(raw.splitlines()[0])
    except (IndexError, ValueError):
        return None
    return status


async def _reap(process: Process) -> None:
    with anyio.CancelScope(shield=True), anyio.move_on_after(_REAP_GRACE):
        await process.wait()
        with contextlib.suppress(OSError):
            await process.aclose()


async def execute(launch: Launch, stdin: bytes, wall_limit: float, output_bytes: int) -> Outcome:
    """Run ``launch`` to completion, timeout or cancellation; never leave processes behind."""
    pass_fds = () if launch.status_fd_child is None else (launch.status_fd_child,)
    try:
        process = await anyio.open_process(
            list(launch.argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=launch.cwd,
            env=launch.env,
            start_new_session=True,
            pass_fds=pass_fds,
            **launch.spawn_kwargs,
        )
    except BaseException:
        if launch.status_fd is not None:
            os.close(launch.status_fd)
        raise
    finally:
        if launch.status_fd_child is not None:
            os.close(launch.status_fd_child)
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = _Capture(output_bytes), _Capture(output_bytes)
    finished = False
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_feed, process.stdin, stdin)
            tg.start_soon(out.drain, process.stdout)
            tg.start_soon(err.drain, process.stderr)
            with anyio.move_on_after(wall_limit) as deadline:
                await process.wait()
            if deadline.cancelled_caught or launch.sweep_token is not None:
                kill_tree(process, launch)
            await process.wait()
            with anyio.move_on_after(_DRAIN_GRACE):
                await out.done.wait()
                await err.done.wait()
            tg.cancel_scope.cancel()
        finished = True
    finally:
        if not finished:
            kill_tree(process, launch)
        await _reap(process)
        status = _read_status(launch.status_fd)
        if launch.status_fd is not None:
            os.close(launch.status_fd)
    returncode = process.returncode
    return Outcome(
        returncode=-signal.SIGKILL if returncode is None else returncode,
        stdout=bytes(out.data),
        stderr=bytes(err.data),
        truncated=out.truncated or err.truncated,
        timed_out=deadline.cancelled_caught,
        status=status,
    )
