"""HTTP endpoints: chat completions (plain and SSE), models, approaches, health."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..concurrency import task_group
from ..errors import InvalidRequestError, OptillmError
from ..executor import Engine, Outcome
from ..models import ChatRequest
from .render import ChunkStamper, completion_body, sse, sse_stream

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Disconnected(Exception):
    """The client went away before the answer was ready."""


def error_response(exc: OptillmError) -> JSONResponse:
    """An OpenAI error JSON response; non-retryable statuses say so to the SDKs."""
    headers = dict(exc.headers)
    if exc.status < 500 and exc.status not in (408, 409, 429):
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
    return {
        "x-optillm-approach": str(outcome.plan),
        "x-optillm-upstream-calls": str(outcome.state.usage.calls),
    }


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``."""
    engine: Engine = request.app.state.engine
    request_id = request.scope.get("state", {}).get("request_id", "")
    try:
        chat = parse_chat(await read_json(request, engine.settings.max_body_bytes))
        response_model = chat.model or engine.settings.model
        with anyio.fail_after(engine.settings.request_timeout):
            if chat.stream:
                return await _streaming(request, engine, chat, request_id, response_model)
            outcome = await until_disconnect(
                request, lambda: engine.run(chat, request_id=request_id)
            )
            result = await until_disconnect(request, outcome.result.collect)
        body = completion_body(result, response_model, outcome.state.usage)
        return JSONResponse(body, headers=_headers(outcome))
    except OptillmError as exc:
        return error_response(exc)
    except TimeoutError:
        return error_response(
            OptillmError(
                "The request took longer than the server allows.",
                status=504,
                code="request_timeout",
            )
        )
    except (Disconnected, ClientDisconnect):
        return Response(status_code=499)
    except Exception:
        logger.exception("request %s failed", request_id)
        return error_response(internal_error(request_id))


async def _streaming(
    request: Request, engine: Engine, chat: ChatRequest, request_id: str, response_model: str
) -> Response:
    outcome = await until_disconnect(request, lambda: engine.run(chat, request_id=request_id))
    usage = outcome.state.usage
    include_usage = bool((chat.extras.get("stream_options") or {}).get("include_usage"))
    stamper = ChunkStamper(response_model, include_usage)
    from ..results import as_chunks

    events = sse_stream(as_chunks(outcome.result), stamper, usage)
    # Pull the first event before the status line: an error up to here is a normal JSON error.
    first = await until_disconnect(request, events.__anext__)

    async def body() -> AsyncIterator[bytes]:
        yield first
        try:
            async for event in events:
                yield event
        except Exception:
            logger.exception("stream of request %s failed", request_id)
            yield sse(internal_error(request_id).to_dict())
        finally:
            await events.aclose()

    headers = {**_headers(outcome), "cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


async def health(request: Request) -> Response:
    """``GET /health``: liveness, no authentication."""
    return JSONResponse({"status": "ok"})


async def models(request: Request) -> Response:
    """``GET /v1/models``: the upstream's models, else the configured default model."""
    engine: Engine = request.app.state.engine
    try:
        data = await engine.upstream.list_models()
    except OptillmError:
        data = []
    if not data:
        data = [
            {"id": engine.settings.model, "object": "model", "created": 0, "owned_by": "optillm"}
        ]
    return JSONResponse({"object": "list", "data": data})


async def approaches(request: Request) -> Response:
    """``GET /v1/optillm/approaches``: every installed stage with its parameters."""
    engine: Engine = request.app.state.engine
    registry = engine.registry
    pm = request.app.state.plugin_manager
    rows = []
    for slug, stage in sorted(registry.stages.items()):
        info = pm.origins.get(registry.owners.get(slug, ""))
        rows.append({**stage.describe(), "distribution": info.distribution if info else None})
    return JSONResponse({"object": "list", "data": rows})
