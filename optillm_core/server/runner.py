"""Running the app under uvicorn: one process or ``--workers N``, with a graceful drain.

On SIGTERM/SIGINT the server first turns not-ready (``/health/ready`` → 503, new chat requests
→ 503 with ``retry-after``) for ``--drain-grace`` seconds so load balancers stop sending, then
stops accepting connections and lets in-flight requests finish (at most ``--drain-timeout``
seconds), and exits with status 0. With ``--workers N`` a parent process forks N workers that
share one listening socket; it passes signals on, and each worker drains the same way.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from ..settings import Settings
from .app import create_app
from .state import ServerState

logger = logging.getLogger(__name__)

#: The longest a thread may hold the GIL before it is asked to hand it over (Python's default
#: is 5 ms). CPU-bound work in worker threads (presidio, tokenizers) makes the event loop wait
#: up to that long for the GIL after every poll, so /health and streams slow down by tens of
#: milliseconds under such load; 1 ms keeps the loop responsive at a negligible cost.
SWITCH_INTERVAL = 0.001


def tune_interpreter() -> None:
    """Apply the serving process's interpreter settings (the GIL switch interval)."""
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)


def find_state(app: Any) -> ServerState | None:
    """The ``ServerState`` of an app, looking through wrapping middleware."""
    seen = 0
    while app is not None and seen < 16:
        if isinstance(app, Starlette) and isinstance(
            getattr(app.state, "server", None), ServerState
        ):
            return app.state.server  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
        seen += 1
    return None


class DrainingServer(uvicorn.Server):
    """A uvicorn server that turns not-ready before it stops accepting requests."""

    def __init__(self, config: uvicorn.Config, grace: float) -> None:
        super().__init__(config)
        self.grace = grace
        self.draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: drain, then exit after the grace period; a second one exits now.
        The process exits with status 0 (the signal is not re-raised)."""
        state = find_state(getattr(self.config, "loaded_app", None))
        if state is not None:
            state.draining = True
        if self.draining or self.grace <= 0 or state is None:
            self._exit_now(sig)
            return
        self.draining = True
        logger.info("draining for %.1f s before shutdown", self.grace)
        timer = threading.Timer(self.grace, self._exit_now, args=(sig,))
        timer.daemon = True
        timer.start()

    def _exit_now(self, sig: int) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def _serve_worker(settings: Settings, sock: socket.socket) -> None:
    config = config_for(settings, create_app(settings))
    DrainingServer(config, settings.drain_grace).run(sockets=[sock])


def config_for(settings: Settings, app: Any, **extra: Any) -> uvicorn.Config:
    """The uvicorn configuration for the settings."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log.lower(),
        access_log=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout)),
        **extra,
    )


def run(settings: Settings, app: Starlette | None = None) -> None:
    """Serve until a signal arrives; with ``settings.workers > 1`` in worker processes."""
    tune_interpreter()
    if settings.workers <= 1:
        config = config_for(settings, app or create_app(settings))
        DrainingServer(config, settings.drain_grace).run()
        return
    run_workers(settings)


def run_workers(settings: Settings) -> None:
    """Fork ``settings.workers`` processes serving one listening socket; SIGTERM/SIGINT are
    passed on to every worker, which drains and exits; dead workers are replaced."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # accepted sockets inherit it; without it keep-alive responses wait 40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    context = multiprocessing.get_context("fork")
    stopping = threading.Event()

    def spawn() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_serve_worker, args=(settings, sock), daemon=False)
        process.start()
        return process

    workers = [spawn() for _ in range(settings.workers)]

    def forward(sig: int, frame: FrameType | None) -> None:
        stopping.set()
        for process in workers:
            if process.pid and process.exitcode is None:
                os.kill(process.pid, sig)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping.wait(0.5):
            for i, process in enumerate(workers):
                if process.exitcode is not None and not stopping.is_set():
                    logger.warning(
                        "worker %s exited (%s); starting another", process.pid, process.exitcode
                    )
                    workers[i] = spawn()
        deadline = settings.drain_grace + settings.drain_timeout + 5
        for process in workers:
            process.join(timeout=deadline)
            if process.exitcode is None:
                process.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
