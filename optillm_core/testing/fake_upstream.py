"""A scripted, OpenAI-compatible chat-completions server for tests and benchmarks.

``FakeUpstream`` is a pure ASGI app: use it in-process through ``asgi_client()``, or over
real HTTP on a free loopback port through ``serve()`` / ``serve_in_thread()``.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import inspect
import itertools
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import anyio
import httpx2

from optillm_core.testing import _fake_render as render
from optillm_core.testing._fake_http import (
    Responder,
    header_dict,
    lifespan,
    parse_object,
    read_body,
    run_watched,
)
from optillm_core.testing._fake_respond import apply_fault, send_completion, send_stream
from optillm_core.testing._fake_serve import serve_async, serve_thread
from optillm_core.testing._fake_types import (
    Fault,
    Receive,
    Reply,
    ReplyItem,
    ReplySource,
    RequestRecord,
    Scope,
    Send,
)

__all__ = ["FakeUpstream", "Fault", "Reply", "RequestRecord"]


class FakeUpstream:
    """An OpenAI-compatible upstream with scripted replies, latency, faults and a request log.

    Routes: ``POST /v1/chat/completions`` and ``GET /v1/models`` (also without ``/v1``);
    anything else is a 404 in OpenAI error JSON.

    Where replies come from, per generated choice: the head of the ``enqueue()`` queue if it
    is a str or ``Reply``; else ``reply``: a str or ``Reply`` (always that), a callable
    ``fn(body) -> str | Reply`` (sync or async, called once per choice) or ``None`` (echo
    ``"echo: <last user message text>"``). A ``Fault`` queued by ``fail_next()``, or at the
    head of the queue when a request starts, is consumed by that whole request.

    Token counting: ``prompt_tokens`` is the number of whitespace-split words over all
    message texts (content strings and ``text`` parts), at least 1; each choice's
    ``completion_tokens`` is the word count of its content, at least 1; ``Reply`` fields
    override both (the first choice's ``prompt_tokens``). ``usage`` sums completion tokens over
    choices. ``prompt_tokens_served`` / ``completion_tokens_served`` add up the usage of every
    response sent in full (a cut or cancelled stream does not count).

    Concurrency: ``in_flight`` counts chat requests being answered, including latency sleeps
    and streaming; a client disconnect aborts the request at once (``cancelled`` in its
    record). ``max_in_flight`` is the peak. ``dependent_rounds()`` measures sequential rounds.

    With ``supports_n=False`` a request with ``n > 1`` gets a 400, like Groq or Gemini.
    With ``require_api_key`` set, requests need ``Authorization: Bearer <key>`` (else 401).
    ``latency`` (seconds) is slept before each answer; ``stream_chunk_delay`` between chunks.
    """

    def __init__(
        self,
        reply: ReplySource = None,
        *,
        models: Iterable[str] = ("fake-model",),
        supports_n: bool = True,
        latency: float = 0.0,
        stream_chunk_delay: float = 0.0,
        require_api_key: str | None = None,
    ) -> None:
        self.reply = reply
        self.models = tuple(models)
        self.supports_n = supports_n
        self.latency = latency
        self.stream_chunk_delay = stream_chunk_delay
        self.require_api_key = require_api_key
        self.requests: list[RequestRecord] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.prompt_tokens_served = 0
        self.completion_tokens_served = 0
        self._queue: deque[ReplyItem] = deque()
        self._faults: deque[Fault] = deque()
        self._ids = itertools.count(1)

    # -- scripting -----------------------------------------------------------------------

    def enqueue(self, *replies: ReplyItem) -> None:
        """Queue replies (str or ``Reply``, one per choice) and faults (one per request)."""
        for item in replies:
            if not isinstance(item, str | Reply | Fault):
                raise TypeError(f"enqueue() takes str, Reply or Fault, not {type(item).__name__}")
        self._queue.extend(replies)

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` chat requests fail with ``fault``, before any queued reply."""
        self._faults.extend([fault] * times)

    # -- inspection ----------------------------------------------------------------------

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the logged chat requests, in arrival order."""
        return [record.body for record in self.requests]

    @property
    def call_count(self) -> int:
        """How many chat requests arrived (faulted and cancelled ones included)."""
        return len(self.requests)

    def dependent_rounds(self) -> int:
        """The longest chain of logged requests each starting after the previous finished.

        Concurrent requests overlap and count as one round, so with ``latency > 0`` this is
        the number of sequential rounds a caller used. Unfinished requests can end a chain.
        """
        records = sorted(self.requests, key=lambda record: record.started)
        ends = sorted(
            (record.finished, position)
            for position, record in enumerate(records)
            if record.finished is not None
        )
        depth = [0] * len(records)
        best = available = 0
        for position, record in enumerate(records):
            reachable = bisect.bisect_left(ends, (record.started, -1))
            while available < reachable:
                best = max(best, depth[ends[available][1]])
                available += 1
            depth[position] = best + 1
        return max(depth, default=0)

    def reset(self) -> None:
        """Clear the request log and the counters (queued replies and faults stay)."""
        self.requests.clear()
        self.max_in_flight = self.in_flight
        self.prompt_tokens_served = 0
        self.completion_tokens_served = 0

    # -- serving -------------------------------------------------------------------------

    def asgi_client(self) -> httpx2.AsyncClient:
        """An in-process ``httpx2.AsyncClient`` for this app, based at ``/v1``."""
        transport = httpx2.ASGITransport(app=self)
        return httpx2.AsyncClient(transport=transport, base_url="http://fake-upstream/v1")

    def serve(self) -> contextlib.AbstractAsyncContextManager[str]:
        """``async with fake.serve() as base_url``: uvicorn on 127.0.0.1 in this loop.

        ``base_url`` is ``"http://127.0.0.1:PORT/v1"``; asyncio only (uvicorn needs it).
        """
        return serve_async(functools.partial(self._dispatch, in_process=False))

    def serve_in_thread(self) -> contextlib.AbstractContextManager[str]:
        """``with fake.serve_in_thread() as base_url``: uvicorn in a daemon thread."""
        return serve_thread(functools.partial(self._dispatch, in_process=False))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        await self._dispatch(scope, receive, send, in_process=True)

    # -- ASGI ----------------------------------------------------------------------------

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, *, in_process: bool
    ) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            await receive()
            await send({"type": "websocket.close", "code": 1000})
            return
        route = scope["path"].rstrip("/")
        route = route[3:] if route.startswith("/v1/") else route
        method = scope["method"]
        if route == "/chat/completions" and method == "POST":
            await self._chat(scope, receive, send, in_process=in_process)
        elif route == "/models" and method == "GET":
            await self._list_models(scope, send)
        else:
            message = f"Unknown request URL: {method} {scope['path']}"
            await Responder(send).error(404, message, code="unknown_url")

    async def _list_models(self, scope: Scope, send: Send) -> None:
        responder = Responder(send)
        if not self._authorized(header_dict(scope)):
            await responder.error(401, "Incorrect API key provided.")
            return
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "fake-upstream"}
            for name in self.models
        ]
        await responder.json(200, {"object": "list", "data": data})

    async def _chat(self, scope: Scope, receive: Receive, send: Send, *, in_process: bool) -> None:
        raw = await read_body(receive)
        if raw is None:
            return
        headers = header_dict(scope)
        body = parse_object(raw)
        record = RequestRecord(
            body={} if body is None else body,
            headers=headers,
            started=time.monotonic(),
            path=scope["path"],
        )
        self.requests.append(record)
        responder = Responder(send, record)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        failed = False
        try:
            if self._may_wait(body):
                await run_watched(
                    receive, responder, lambda: self._answer(body, headers, responder)
                )
            else:  # nothing to wait for: skip the disconnect watcher, it costs ~80 us
                await self._answer(body, headers, responder)
        except Exception:
            failed = True
            raise
        finally:
            self.in_flight -= 1
            if failed or responder.complete or responder.dropped:
                record.finished = time.monotonic()
            else:
                record.cancelled = True
            if failed and record.status is None:
                record.status = 500
        if responder.dropped and in_process:
            raise httpx2.RemoteProtocolError("Server disconnected without a complete response.")

    def _may_wait(self, body: dict[str, Any] | None) -> bool:
        """Whether answering could sleep or await the reply source (conservatively)."""
        if self.latency > 0 or self._faults or callable(self.reply):
            return True
        if body is not None and body.get("stream") is True and self.stream_chunk_delay > 0:
            return True
        return any(
            isinstance(item, Fault) or (isinstance(item, Reply) and item.latency)
            for item in self._queue
        )

    def _authorized(self, headers: dict[str, str]) -> bool:
        key = self.require_api_key
        return key is None or headers.get("authorization") == f"Bearer {key}"

    async def _answer(
        self, body: dict[str, Any] | None, headers: dict[str, str], responder: Responder
    ) -> None:
        if not self._authorized(headers):
            await responder.error(401, "Incorrect API key provided.")
            return
        if body is None:
            await responder.error(400, "The request body is not a JSON object.")
            return
        fault = self._take_fault()
        if fault is not None and await apply_fault(fault, responder):
            return
        n = body.get("n")
        n = 1 if n is None else n
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            await responder.error(400, f"n must be a positive integer, got {n!r}")
            return
        if n > 1 and not self.supports_n:
            await responder.error(400, "n>1 is not supported")
            return
        replies = [await self._next_reply(body) for _ in range(n)]
        overrides = [reply.latency for reply in replies if reply.latency is not None]
        latency = max(overrides) if overrides else self.latency
        if latency > 0:
            await anyio.sleep(latency)
        await self._respond(body, replies, fault, responder)

    def _take_fault(self) -> Fault | None:
        if self._faults:
            return self._faults.popleft()
        if self._queue and isinstance(self._queue[0], Fault):
            item = self._queue.popleft()
            assert isinstance(item, Fault)
            return item
        return None

    async def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self._queue and not isinstance(self._queue[0], Fault):
            return _as_reply(self._queue.popleft())
        source = self.reply
        if source is None:
            return Reply(render.echo_text(body))
        if isinstance(source, str | Reply):
            return _as_reply(source)
        result = source(body)
        if inspect.isawaitable(result):
            result = await result
        return _as_reply(result)

    async def _respond(
        self,
        body: dict[str, Any],
        replies: list[Reply],
        fault: Fault | None,
        responder: Responder,
    ) -> None:
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = (
            stream and isinstance(options, dict) and options.get("include_usage") is True
        )
        model = body.get("model")
        meta = render.Meta(
            id=f"chatcmpl-fake-{next(self._ids)}",
            created=int(time.time()),
            model=model if isinstance(model, str) and model else self.models[0],
            include_usage=include_usage,
        )
        first = replies[0].prompt_tokens
        prompt = render.count_prompt_tokens(body) if first is None else first
        usage = render.usage(prompt, replies)
        if stream:
            delay = self.stream_chunk_delay
            full = await send_stream(meta, replies, usage, fault, responder, delay)
        else:
            full = await send_completion(meta, replies, usage, fault, responder)
        if full:
            self.prompt_tokens_served += usage["prompt_tokens"]
            self.completion_tokens_served += usage["completion_tokens"]


def _as_reply(item: Any) -> Reply:
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return Reply(item)
    raise TypeError(f"a fake reply must be a str or Reply, not {type(item).__name__}")
