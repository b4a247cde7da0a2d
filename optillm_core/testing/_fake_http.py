"""Low-level ASGI helpers of the fake upstream: reading requests, sending responses, and
watching for client disconnects."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio

from optillm_core.testing._fake_render import dumps, error_payload
from optillm_core.testing._fake_types import Receive, RequestRecord, Scope, Send

JSON = "application/json"


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def header_dict(scope: Scope) -> dict[str, str]:
    """The request headers as a dict with lower-case names (a repeated header: last wins)."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }


def parse_object(raw: bytes) -> dict[str, Any] | None:
    """The JSON object in ``raw``, or ``None`` when it is not a JSON object."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge lifespan startup and shutdown; the fake has nothing to set up."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class Responder:
    """Sends one HTTP response and remembers how far it got."""

    def __init__(self, send: Send, record: RequestRecord | None = None) -> None:
        self._send = send
        self._record = record
        self.started = False
        self.complete = False
        self.dropped = False

    async def start(
        self,
        status: int,
        content_type: str = JSON,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Send the status line and headers."""
        if self._record is not None:
            self._record.status = status
        raw = [(b"content-type", content_type.encode())]
        raw += [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": raw})

    async def body(self, data: bytes, *, more: bool = False) -> None:
        """Send body bytes; ``more=False`` completes the response."""
        await self._send({"type": "http.response.body", "body": data, "more_body": more})
        if not more:
            self.complete = True

    async def json(
        self, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Send a whole JSON response."""
        data = dumps(payload)
        await self.start(status, JSON, [("content-length", str(len(data))), *headers])
        await self.body(data)

    async def error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Send OpenAI error JSON with this status."""
        await self.json(status, error_payload(status, message, code), headers)


async def _watch(receive: Receive, responder: Responder, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not responder.complete:
                scope.cancel()
            return


async def run_watched(
    receive: Receive, responder: Responder, work: Callable[[], Awaitable[None]]
) -> None:
    """Run ``work`` and abandon it as soon as the client disconnects.

    Exceptions from ``work`` come out as themselves, not wrapped in an exception group;
    a disconnect is not an exception: check ``responder.complete`` afterwards.
    """
    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch, receive, responder, tg.cancel_scope)
        try:
            await work()
        except Exception as exc:
            error = exc
        tg.cancel_scope.cancel()
    if error is not None:
        raise error
