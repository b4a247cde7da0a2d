"""``complete()``: run the engine as a library call, without HTTP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .executor import Engine
from .models import ChatRequest
from .server.app import build_engine
from .server.render import completion_body
from .server.routes import parse_chat
from .settings import Settings
from .upstream.base import Upstream


async def complete(
    request: Mapping[str, Any] | ChatRequest,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    plugins: Iterable[object] = (),
    autoload: bool = True,
    upstream: Upstream | None = None,
) -> dict[str, Any]:
    """Run one chat request through its plan and return the ``chat.completion`` body.

    Pass an ``engine`` (from ``build_engine``) to reuse plugins and upstream connections across
    calls; otherwise one is built for this call (and the upstream it built closed afterwards; an
    ``upstream`` you pass stays open). Streams are collected. Errors raise ``OptillmError``
    subclasses, invalid input included.
    """
    chat = request if isinstance(request, ChatRequest) else parse_chat(dict(request))
    owned = engine is None and upstream is None  # close only what this call built
    if engine is None:
        engine, _ = build_engine(settings, plugins, autoload=autoload, upstream=upstream)
    try:
        outcome = await engine.run(chat)
        result = await outcome.result.collect()
        return completion_body(result, outcome.model, outcome.state.usage)
    finally:
        if owned:
            await engine.upstream.aclose()
