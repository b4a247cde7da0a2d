"""HTTP endpoints: chat completions (plain and SSE), models, approaches, health."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ..concurrency import task_group
from ..context import RequestState
from ..errors import InvalidRequestError, OptillmError
from ..executor import Engine, Outcome
from ..models import ChatRequest
from .observe import log_request
from .render import completion_body
from .state import ServerState
from .streaming import StreamingCompletion

logger = logging.getLogger(__name__)
T = TypeVar("T")


#: statuses a client may retry; everything else would only repeat expensive work
RETRYABLE = frozenset({408, 409, 429, 503})


class Disconnected(Exception):
    """The client went away before the answer was ready."""


def error_response(exc: OptillmError) -> JSONResponse:
    """An OpenAI error JSON response; non-retryable statuses say so to the SDKs."""
    headers = dict(exc.headers)
    if exc.status not in RETRYABLE:
        headers["x-should-retry"] = "false"
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def internal_error(request_id: str) -> OptillmError:
    """The error a client sees for a bug: no traceback, just the request id."""
    return OptillmError(f"Internal error while serving request {request_id}; see the server log.")


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON, refusing bodies over ``limit`` bytes."""
    length = request.headers.get("content-length")
    too_big = OptillmError(
        f"Request body larger than {limit} bytes.", status=413, code="body_too_large"
    )
    too_big.type = "invalid_request_error"
    if length and length.isdigit() and int(length) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"The body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidRequestError("The body's JSON is nested too deeply.") from exc


def parse_chat(data: Any) -> ChatRequest:
    """Validate a chat body into a ``ChatRequest``, errors as OpenAI 400s."""
    if not isinstance(data, dict):
        raise InvalidRequestError("The body must be a JSON object.")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidRequestError(f"Invalid '{where}': {first.get('msg')}", param=where) from exc


async def until_disconnect(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work``; cancel it (and every upstream call under it) if the client disconnects."""
    box: list[T] = []

    async with task_group() as tg:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        box.append(await work())
        tg.cancel_scope.cancel()
    if not box:
        raise Disconnected
    return box[0]


def _headers(outcome: Outcome) -> dict[str, str]:
    headers = {
        "x-optillm-approach": str(outcome.plan),
        "x-optillm-upstream-calls": str(outcome.state.usage.calls),
    }
    if outcome.state.dropped_features:
        headers["x-optillm-dropped-features"] = ",".join(outcome.state.dropped_features)
    headers.update(outcome.state.response_headers)
    return headers


class RequestFinisher:
    """Accounts a finished request: metrics, the log line, the conversation record."""

    def __init__(self, request: Request, chat: ChatRequest | None, state: RequestState) -> None:
        self.server: ServerState = request.app.state.server
        self.chat = chat
        self.state = state
        self.started = time.perf_counter()

    async def __call__(
        self,
        status: int,
        outcome: Outcome | None,
        disconnected: bool,
        response: dict[str, Any] | None = None,
    ) -> None:
        server, usage = self.server, self.state.usage
        seconds = time.perf_counter() - self.started
        plan = outcome.plan if outcome else self.state.plan
        approach = str(plan) if plan is not None else "-"
        model = outcome.model if outcome else (self.chat.model if self.chat else "-")
        server.metrics.record(
            approach,
            status,
            seconds,
            usage.calls,
            usage.prompt_tokens,
            usage.completion_tokens,
            disconnected,
        )
        log_request(
            self.state.request_id,
            approach,
            model,
            status,
            seconds,
            usage.calls,
            usage.prompt_tokens,
            usage.completion_tokens,
        )
        if server.conversations is not None and self.chat is not None:
            await self._log_conversation(status, approach, seconds, response)

    async def _log_conversation(
        self, status: int, approach: str, seconds: float, response: dict[str, Any] | None
    ) -> None:
        assert self.server.conversations is not None
        assert self.chat is not None
        usage = self.state.usage
        try:
            await self.server.conversations.write(
                {
                    "request_id": self.state.request_id,
                    "timestamp": time.time(),
                    "approach": approach,
                    "status": status,
                    "latency_ms": round(seconds * 1000, 3),
                    "request": self.chat.body(),
                    "upstream_calls": self.state.calls_log,
                    "response": response,
                    "usage": usage.to_openai(),
                }
            )
        except OSError as exc:  # a full disk must not cost the client its answer
            logger.warning("conversation log write failed for %s: %s", self.state.request_id, exc)


def _upstream_key(request: Request, settings: Any) -> str | None:
    if not settings.forward_client_key:
        return None
    return request.headers.get("x-upstream-api-key") or None


async def chat_completions(request: Request) -> Response | StreamingCompletion:
    """``POST /v1/chat/completions``."""
    server: ServerState = request.app.state.server
    engine = server.engine
    request_id = request.scope.get("state", {}).get("request_id", "")
    chat: ChatRequest | None = None
    state = engine.new_state(request_id)
    finish = RequestFinisher(request, None, state)
    server.metrics.in_flight += 1
    streaming = False
    try:
        chat = parse_chat(await read_json(request, engine.settings.max_body_bytes))
        state = engine.new_state(request_id, _upstream_key(request, engine.settings))
        finish = RequestFinisher(request, chat, state)
        if chat.stream:
            streaming = True
            return StreamingCompletion(
                engine,
                chat,
                state,
                _stream_done(server, finish),
                error_response,
                passthrough=engine.is_passthrough(chat),
            )
        with anyio.fail_after(engine.settings.request_timeout or None):
            outcome = await until_disconnect(request, lambda: engine.run(chat, state=state))
            result = outcome.result
            if result.stream is not None:
                result = await until_disconnect(request, result.collect)
        body = completion_body(result, outcome.model, outcome.state.usage)
        await finish(200, outcome, False, body)
        return JSONResponse(body, headers=_headers(outcome))
    except OptillmError as exc:
        await finish(exc.status, None, False)
        return error_response(exc)
    except TimeoutError:
        await finish(504, None, False)
        return error_response(
            OptillmError(
                "The request took longer than the server allows.",
                status=504,
                code="request_timeout",
            )
        )
    except (Disconnected, ClientDisconnect):
        await finish(499, None, True)
        return Response(status_code=499)
    except Exception:
        logger.exception("request %s failed", request_id)
        await finish(500, None, False)
        return error_response(internal_error(request_id))
    finally:
        if not streaming:
            server.metrics.in_flight -= 1


def _stream_done(server: ServerState, finish: RequestFinisher) -> Any:
    async def done(
        status: int,
        outcome: Outcome | None,
        disconnected: bool,
        response: dict[str, Any] | None = None,
    ) -> None:
        server.metrics.in_flight -= 1
        await finish(status, outcome, disconnected, response)

    return done


async def health(request: Request) -> Response:
    """``GET /health``: liveness, no authentication."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """``GET /health/ready``: 200 when serving, 503 while starting or draining."""
    server: ServerState = request.app.state.server
    if server.ready and not server.draining:
        return JSONResponse({"status": "ready"})
    status = "draining" if server.draining else "starting"
    return JSONResponse({"status": status}, status_code=503, headers={"retry-after": "1"})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text format."""
    server: ServerState = request.app.state.server
    return Response(server.metrics.render(), media_type="text/plain; version=0.0.4")


async def models(request: Request) -> Response:
    """``GET /v1/models``: the upstream's models, else the configured default model."""
    engine: Engine = request.app.state.server.engine
    try:
        data = await engine.upstream.list_models()
    except OptillmError:
        data = []
    if not data:
        data = [
            {"id": engine.settings.model, "object": "model", "created": 0, "owned_by": "optillm"}
        ]
    default = engine.settings.model
    data = list(data) + [
        {"id": f"{slug}-{default}", "object": "model", "created": 0, "owned_by": "optillm"}
        for slug, stage in sorted(engine.registry.stages.items())
        if not stage.hidden and slug != "none"
    ]
    return JSONResponse({"object": "list", "data": data})


async def approaches(request: Request) -> Response:
    """``GET /v1/optillm/approaches``: every installed stage with its parameters."""
    engine: Engine = request.app.state.server.engine
    registry = engine.registry
    pm = request.app.state.server.plugin_manager
    rows = []
    for slug, stage in sorted(registry.stages.items()):
        info = pm.origins.get(registry.owners.get(slug, ""))
        described = stage.describe(registry=registry)
        rows.append({**described, "distribution": info.distribution if info else None})
    return JSONResponse({"object": "list", "data": rows})
