"""The SSE response for ``stream: true`` requests.

The status line waits until there is something to send: the first chunk (then 200 and SSE), an
error (then a normal OpenAI error with its status), or a keep-alive that is due — keep-alives
(``: keep-alive`` comments every ``keepalive_interval`` seconds) start only once an upstream call
of the request has succeeded. After the status line, an error is a terminal SSE ``error`` event.
A client disconnect cancels the whole request, upstream calls included.

A passthrough has no earlier stages to wait for, so it streams directly; other plans run in a
producer task so that keep-alives can flow while their earlier stages work.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.types import Receive, Scope, Send

from ..context import RequestState
from ..errors import OptillmError
from ..executor import Engine, Outcome
from ..models import ChatRequest
from ..results import Chunk, as_chunks, collect_stream
from .render import ChunkStamper, sse, sse_stream

logger = logging.getLogger(__name__)
KEEPALIVE = b": keep-alive\n\n"
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclass
class _Item:
    kind: str  # "headers" | "data" | "error"
    payload: Any = None


class _Sender:
    """Sends items to the client, starting the SSE response at the right moment."""

    def __init__(
        self,
        scope: Scope,
        send: Send,
        render_error: Callable[[OptillmError], Any],
        state: RequestState,
    ) -> None:
        self.scope = scope
        self.state = state
        #: the response is complete: a disconnect after this is the normal end, not an abort
        self.done = False
        self.send = send
        self.render_error = render_error
        self.started = False
        self.headers = list(SSE_HEADERS)
        self.status = 200

    async def start(self) -> None:
        if not self.started:
            self.started = True
            headers = self.headers + _state_headers(self.state)
            await self.send({"type": "http.response.start", "status": 200, "headers": headers})

    async def body(self, data: bytes) -> None:
        await self.start()
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def handle(self, item: _Item) -> bool:
        """Send one item; False when the response is complete."""
        if item.kind == "headers":
            return True  # the headers come from the request state when the response starts
        if item.kind == "data":
            await self.body(item.payload)
        else:
            error: OptillmError = item.payload
            if not self.started:
                self.status = error.status
                await self.render_error(error)(self.scope, _disconnected, self.send)
                self.started = self.done = True
                return False
            await self.body(sse(error.to_dict()))
        return True

    async def finish(self) -> None:
        await self.start()
        self.done = True
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})


def _state_headers(state: RequestState) -> list[tuple[bytes, bytes]]:
    """The ``x-optillm-*`` headers known once the plan is resolved."""
    headers: list[tuple[bytes, bytes]] = []
    if state.plan is not None:
        headers.append((b"x-optillm-approach", str(state.plan).encode()))
    if state.dropped_features:
        headers.append((b"x-optillm-dropped-features", ",".join(state.dropped_features).encode()))
    for name, value in state.response_headers.items():
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return headers


class StreamingCompletion:
    """A pure-ASGI response that runs the request and streams its chunks."""

    def __init__(
        self,
        engine: Engine,
        chat: ChatRequest,
        state: RequestState,
        on_done: Callable[[int, Outcome | None, bool, Any], Awaitable[None]],
        render_error: Callable[[OptillmError], Any],
        passthrough: bool = False,
    ) -> None:
        self.engine = engine
        self.chat = chat
        self.state = state
        self.on_done = on_done
        self.render_error = render_error
        self.passthrough = passthrough
        self.outcome: Outcome | None = None
        #: the chunks sent, kept only when conversations are logged
        self.streamed: list[Chunk] | None = [] if engine.settings.log_conversations else None

    async def _events(self) -> AsyncGenerator[_Item, None]:
        try:
            with anyio.fail_after(self.engine.settings.request_timeout or None):
                self.outcome = await self.engine.run(self.chat, state=self.state)
                include_usage = bool(
                    (self.chat.extras.get("stream_options") or {}).get("include_usage")
                )
                stamper = ChunkStamper(self.outcome.model, include_usage)
                yield _Item("headers", self.outcome)
                chunks = as_chunks(self.outcome.result)
                if self.streamed is not None:
                    chunks = _tee(chunks, self.streamed)
                async for event in sse_stream(chunks, stamper, self.state.usage):
                    yield _Item("data", event)
        except OptillmError as exc:
            yield _Item("error", exc)
        except TimeoutError:
            yield _Item(
                "error",
                OptillmError(
                    "The request took longer than the server allows.",
                    status=504,
                    code="request_timeout",
                ),
            )
        except Exception:
            logger.exception("stream of request %s failed", self.state.request_id)
            yield _Item(
                "error",
                OptillmError(f"Internal error while serving request {self.state.request_id}."),
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the stream; see the module docstring for when the status line goes out."""
        sender = _Sender(scope, send, self.render_error, self.state)
        disconnected = False
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                nonlocal disconnected
                while (await receive())["type"] != "http.disconnect":
                    pass
                if not sender.done:
                    disconnected = True
                    tg.cancel_scope.cancel()

            tg.start_soon(watch)
            if self.passthrough:
                await self._direct(sender)
            else:
                await self._with_keepalives(sender, tg)
            tg.cancel_scope.cancel()
        response = None
        if self.streamed is not None:
            choices = await collect_stream(_replay(self.streamed))
            response = {"streamed": True, "choices": [c.message() for c in choices]}
        status = 499 if disconnected else sender.status
        await self.on_done(status, self.outcome, disconnected, response)

    async def _direct(self, sender: _Sender) -> None:
        events = self._events()
        try:
            async for item in events:
                if not await sender.handle(item):
                    return
        finally:
            await events.aclose()
        await sender.finish()

    async def _with_keepalives(self, sender: _Sender, tg: Any) -> None:
        send_items, items = anyio.create_memory_object_stream[_Item](max_buffer_size=32)
        tg.start_soon(self._produce, send_items)
        interval = self.engine.settings.keepalive_interval
        await self._consume(items, sender, interval if interval > 0 else None)

    async def _produce(self, out: MemoryObjectSendStream[_Item]) -> None:
        async with out:
            async for item in self._events():
                await out.send(item)

    async def _consume(
        self, items: MemoryObjectReceiveStream[_Item], sender: _Sender, interval: float | None
    ) -> None:
        async with items:
            while True:
                item: _Item | None = None
                with anyio.move_on_after(interval):
                    try:
                        item = await items.receive()
                    except anyio.EndOfStream:
                        break
                if item is None:  # a keep-alive is due
                    if self.state.upstream_ok:
                        await sender.body(KEEPALIVE)
                    continue
                if not await sender.handle(item):
                    return
        await sender.finish()


async def _disconnected() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def _tee(chunks: AsyncIterator[Chunk], kept: list[Chunk]) -> AsyncIterator[Chunk]:
    async for chunk in chunks:
        kept.append(chunk)
        yield chunk


async def _replay(chunks: list[Chunk]) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk
