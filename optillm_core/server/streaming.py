"""The SSE response for ``stream: true`` requests.

The status line waits until there is something to send: the first chunk (then 200 and SSE), an
error (then a normal OpenAI error with its status), or a keep-alive that is due — keep-alives
(``: keep-alive`` comments every ``keepalive_interval`` seconds) start only once an upstream call
of the request has succeeded. After the status line, an error is a terminal SSE ``error`` event.
A client disconnect cancels the whole request, upstream calls included.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
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


@dataclass
class _Item:
    kind: str  # "headers" | "data" | "error"
    payload: Any = None


class StreamingCompletion:
    """A pure-ASGI response that runs the request and streams its chunks."""

    def __init__(
        self,
        engine: Engine,
        chat: ChatRequest,
        state: RequestState,
        response_model: str,
        on_done: Callable[[int, Outcome | None, bool, Any], Awaitable[None]],
        render_error: Callable[[OptillmError], Any],
    ) -> None:
        self.engine = engine
        self.chat = chat
        self.state = state
        self.response_model = response_model
        self.on_done = on_done
        self.render_error = render_error
        self.outcome: Outcome | None = None
        #: the chunks sent, kept only when conversations are logged
        self.streamed: list[Chunk] | None = [] if engine.settings.log_conversations else None

    async def _produce(self, out: MemoryObjectSendStream[_Item]) -> None:
        async with out:
            try:
                with anyio.fail_after(self.engine.settings.request_timeout):
                    self.outcome = await self.engine.run(self.chat, state=self.state)
                    stream_options = self.chat.extras.get("stream_options") or {}
                    stamper = ChunkStamper(
                        self.response_model, bool(stream_options.get("include_usage"))
                    )
                    await out.send(_Item("headers", self.outcome))
                    chunks = _tee(as_chunks(self.outcome.result), self.streamed)
                    events = sse_stream(chunks, stamper, self.state.usage)
                    async for event in events:
                        await out.send(_Item("data", event))
            except OptillmError as exc:
                await out.send(_Item("error", exc))
            except TimeoutError:
                await out.send(
                    _Item(
                        "error",
                        OptillmError(
                            "The request took longer than the server allows.",
                            status=504,
                            code="request_timeout",
                        ),
                    )
                )
            except Exception:
                logger.exception("stream of request %s failed", self.state.request_id)
                await out.send(
                    _Item(
                        "error",
                        OptillmError(
                            f"Internal error while serving request {self.state.request_id}."
                        ),
                    )
                )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the stream; see the module docstring for when the status line goes out."""
        send_items, items = anyio.create_memory_object_stream[_Item](max_buffer_size=32)
        status = 200
        disconnected = False
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                nonlocal disconnected
                while (await receive())["type"] != "http.disconnect":
                    pass
                disconnected = True
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            tg.start_soon(self._produce, send_items)
            status = await self._consume(items, scope, send)
            tg.cancel_scope.cancel()
        response = None
        if self.streamed is not None:
            choices = await collect_stream(_replay(self.streamed))
            response = {"streamed": True, "choices": [c.message() for c in choices]}
        await self.on_done(499 if disconnected else status, self.outcome, disconnected, response)

    async def _consume(
        self, items: MemoryObjectReceiveStream[_Item], scope: Scope, send: Send
    ) -> int:
        started = False
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        interval = self.engine.settings.keepalive_interval

        async def start() -> None:
            nonlocal started
            if not started:
                started = True
                await send({"type": "http.response.start", "status": 200, "headers": headers})

        async with items:
            while True:
                item: _Item | None = None
                with anyio.move_on_after(interval if interval > 0 else None):
                    try:
                        item = await items.receive()
                    except anyio.EndOfStream:
                        break
                if item is None:  # a keep-alive is due
                    if self.state.upstream_ok:
                        await start()
                        await send(
                            {"type": "http.response.body", "body": KEEPALIVE, "more_body": True}
                        )
                    continue
                if item.kind == "headers":
                    outcome: Outcome = item.payload
                    headers += [(b"x-optillm-approach", str(outcome.plan).encode())]
                    self.outcome = outcome
                elif item.kind == "data":
                    await start()
                    await send(
                        {"type": "http.response.body", "body": item.payload, "more_body": True}
                    )
                elif item.kind == "error":
                    error: OptillmError = item.payload
                    if not started:
                        response = self.render_error(error)
                        await response(scope, _no_receive, send)
                        return error.status
                    await send(
                        {
                            "type": "http.response.body",
                            "body": sse(error.to_dict()),
                            "more_body": True,
                        }
                    )
                    break
        await start()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return 200


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def _tee(chunks: AsyncIterator[Chunk], kept: list[Chunk] | None) -> AsyncIterator[Chunk]:
    async for chunk in chunks:
        if kept is not None:
            kept.append(chunk)
        yield chunk


async def _replay(chunks: list[Chunk]) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk
