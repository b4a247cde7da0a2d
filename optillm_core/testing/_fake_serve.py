"""Run an ASGI app with uvicorn on a free loopback port, in the current loop or a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import uvicorn

_START_TIMEOUT = 10.0


def _bind_loopback() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that calls ``on_started`` once startup is over (ok or not)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], object]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then report that startup is over."""
        try:
            await super().startup(sockets)
        finally:
            self._on_started()


def _server(app: Any, on_started: Callable[[], object]) -> _Server:
    config = uvicorn.Config(
        app,
        interface="asgi3",
        ws="none",
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=1,
    )
    return _Server(config, on_started)


def _base_url(sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@contextlib.asynccontextmanager
async def serve_async(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` in the running (asyncio) loop; yield its ``http://127.0.0.1:PORT/v1``."""
    sock = _bind_loopback()
    started = anyio.Event()
    server = _server(app, started.set)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            with anyio.fail_after(_START_TIMEOUT):
                await started.wait()
            if not server.started:
                raise RuntimeError("the fake upstream's server did not start")
            try:
                yield _base_url(sock)
            finally:
                server.should_exit = True
    finally:
        sock.close()


@contextlib.contextmanager
def serve_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` from a daemon thread with its own loop; yield its base URL."""
    sock = _bind_loopback()
    started = threading.Event()
    server = _server(app, started.set)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-upstream", daemon=True
    )
    thread.start()
    try:
        if not started.wait(_START_TIMEOUT) or not server.started:
            raise RuntimeError("the fake upstream's server thread did not start")
        yield _base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)
        sock.close()
