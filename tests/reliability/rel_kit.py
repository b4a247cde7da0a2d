"""Shared tools of the reliability suite (and of ``benchmarks/reliability_bench.py``).

Everything runs on loopback: a ``FakeUpstream`` served by uvicorn, the proxy served by uvicorn,
and a raw TCP upstream for faults the fake cannot make (a TCP reset in the middle of a stream,
a connection closed before any response byte). Every loop here is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from optillm_core.testing import FakeUpstream, make_app, serve_app

USER = [{"role": "user", "content": "hello"}]
TAG = re.compile(r"\[id:([A-Za-z0-9-]+)\]")


# -- replies -----------------------------------------------------------------------------


def tagged(request_id: str) -> list[dict[str, Any]]:
    """A one-turn conversation carrying ``request_id``, so every upstream call and every
    answer can be traced back to the client request that caused it."""
    return [{"role": "user", "content": f"Say something about [id:{request_id}] please."}]


def request_tag(body: dict[str, Any]) -> str | None:
    """The ``[id:…]`` tag in an upstream request body (the first one found)."""
    match = TAG.search(json.dumps(body.get("messages") or []))
    return match.group(1) if match else None


def smart_reply() -> Callable[[dict[str, Any]], str]:
    """A reply function for ``FakeUpstream`` that serves multi-call approaches: judge prompts
    get a score, everything else gets a distinct answer that repeats the request's tag (so bon
    rates distinct candidates and every answer names its request)."""
    counter = itertools.count(1)

    def reply(body: dict[str, Any]) -> str:
        text = json.dumps(body.get("messages") or [])
        if "Score the assistant reply" in text:
            return "7"
        tag = request_tag(body)
        mark = f"[id:{tag}]" if tag else ""
        return f"answer {mark} one two three four five six seven eight variant {next(counter)}"

    return reply


# -- resources -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Resources of this process: asyncio tasks, open fds, open sockets, RSS (KiB)."""

    tasks: int
    fds: int
    sockets: int
    rss_kib: int

    @classmethod
    def take(cls) -> Snapshot:
        """Measure now (call from inside the event loop)."""
        return cls(len(asyncio.all_tasks()), *fd_counts(os.getpid()), rss_kib(os.getpid()))


def fd_counts(pid: int) -> tuple[int, int]:
    """(open fds, open sockets) of a process, from ``/proc/<pid>/fd``."""
    fds = sockets = 0
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def settle(
    fake: FakeUpstream, baseline: Snapshot | None = None, within: float = 3.0
) -> float:
    """Wait until the fake has nothing in flight (and, given a baseline, until the task count
    is back to it); return how long that took. Never waits more than ``within`` seconds."""
    started = time.monotonic()
    deadline = started + within
    while time.monotonic() < deadline:
        tasks_ok = baseline is None or len(asyncio.all_tasks()) <= baseline.tasks
        if fake.in_flight == 0 and tasks_ok:
            break
        await anyio.sleep(0.01)
    return time.monotonic() - started


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


# -- responses -----------------------------------------------------------------------------


def sse_events(text: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order (comments skipped)."""
    events = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                events.append(line[5:].strip())
    return events


def openai_error(response: httpx2.Response) -> dict[str, Any]:
    """The ``error`` object of an OpenAI error response (asserting its shape)."""
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    return error


def terminal_sse_error(response: httpx2.Response) -> dict[str, Any]:
    """The error object of a stream that began (200) and ended with an SSE error event, with
    no ``[DONE]`` after it."""
    assert response.status_code == 200, response.text[:300]
    events = sse_events(response.text)
    assert events, "no SSE events"
    assert "[DONE]" not in events, events[-3:]
    last = json.loads(events[-1])
    error = last["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    return error


# -- a raw TCP upstream for connection-level faults ---------------------------------------


class RawUpstream:
    """A tiny HTTP/1.1 server that misbehaves at the TCP level.

    ``mode``: ``"close"`` reads the request and closes without a byte of response;
    ``"reset_mid_stream"`` sends a 200 SSE head and two chunks, then resets the connection
    (RST, SO_LINGER 0); ``"reset_mid_body"`` sends a 200 JSON head announcing 400 bytes and
    20 of them, then resets. ``connections`` counts accepted connections.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None
        self.url = ""

    async def __aenter__(self) -> RawUpstream:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            await reader.readexactly(length)
            if self.mode == "reset_mid_stream":
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "fake-model",
                    "choices": [{"index": 0, "delta": {"content": "partial "}}],
                }
                data = f"data: {json.dumps(chunk)}\n\n".encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for _ in range(2):
                    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
                await asyncio.sleep(0.05)
            elif self.mode == "reset_mid_body":
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: 400\r\n\r\n" + b'{"id": "chatcmpl-x", "ch'
                )
                await writer.drain()
                await asyncio.sleep(0.05)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            sock = writer.get_extra_info("socket")
            if sock is not None and self.mode != "close":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


def refused_url() -> str:
    """A loopback URL where nothing listens (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# -- stacks --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def proxy(
    fake: FakeUpstream, plugins: Iterable[object] = (), upstream_url: str = "", **settings: Any
) -> AsyncIterator[tuple[Any, str]]:
    """The proxy app over ``upstream_url`` (default: ``fake`` served on loopback), served on
    loopback itself; yields ``(app, proxy base URL)``."""
    if upstream_url:
        app = make_app(fake, list(plugins), base_url=upstream_url, **settings)
        async with serve_app(app) as url:
            yield app, url
        return
    async with fake.serve() as served:
        app = make_app(fake, list(plugins), base_url=served, **settings)
        async with serve_app(app) as url:
            yield app, url


def drain_fake(fake: FakeUpstream) -> None:
    """Forget queued replies and faults and the request log (between scenarios)."""
    fake._queue.clear()
    fake._faults.clear()
    fake.reset()


# -- small helpers ---------------------------------------------------------------------


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(condition: Callable[[], bool], within: float) -> bool:
    """Poll ``condition`` every 5 ms for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await anyio.sleep(0.005)
    return condition()


def importable(module: str) -> bool:
    """Whether ``module`` can be imported here."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
