"""The app factory: plugins → registry → upstream → engine → Starlette app."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..config import resolve_config
from ..errors import ConfigError, error_body
from ..executor import Engine
from ..plugins import PluginManager, make_plugin_manager
from ..registry import Registry, build_registry
from ..settings import Settings
from ..upstream.base import Upstream, UpstreamSpec
from ..upstream.select import choose_upstream
from . import routes
from .middleware import ServerMiddleware
from .observe import ConversationLog
from .state import ServerState


def plugin_manager_for(
    settings: Settings, plugins: Iterable[object] = (), autoload: bool = True
) -> PluginManager:
    """A plugin manager configured by the settings' plugin options."""
    return make_plugin_manager(
        autoload,
        plugins=plugins,
        load=settings.load_plugins or None,
        disabled=settings.disabled_plugins,
        strict=settings.strict_plugins,
        plugins_dir=settings.plugins_dir,
    )


def check_plugin_options(settings: Settings, registry: Registry) -> None:
    """Validate the operator's plugin options at start-up, not on the first request."""
    known = {**registry.stages, **registry.upstreams}
    for section in settings.plugin_options:
        if section not in known:
            raise ConfigError(
                f"Options for unknown plugin {section!r}; installed: {', '.join(sorted(known))}."
            )
    for slug, stage in registry.stages.items():
        if settings.plugin_options.get(slug):
            resolve_config(slug, stage.Config, settings.options_for(slug), {})
    for name, spec in registry.upstreams.items():
        if settings.plugin_options.get(name) and spec.config is not None:
            resolve_config(name, spec.config, settings.options_for(name), {})


def build_engine(
    settings: Settings | None = None,
    plugins: Iterable[object] = (),
    *,
    autoload: bool = True,
    plugin_manager: PluginManager | None = None,
    upstream: Upstream | None = None,
) -> tuple[Engine, PluginManager]:
    """Load plugins, freeze the registry, choose the upstream and build the engine."""
    settings = settings or Settings()
    pm = plugin_manager or plugin_manager_for(settings, plugins, autoload)
    registry = build_registry(pm, strict=settings.strict_plugins)
    check_plugin_options(settings, registry)
    if upstream is None:
        upstream = build_upstream(choose_upstream(settings, registry.upstreams), settings, registry)
    return Engine(registry, upstream, settings), pm


_POSITIONAL = inspect.Parameter.POSITIONAL_ONLY
_POSITIONAL_OR_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD


def build_upstream(spec: UpstreamSpec, settings: Settings, registry: Registry) -> Upstream:
    """Call the spec's factory: ``factory(settings, registry)`` when it takes a second
    parameter (an engine that needs the registry, e.g. the local engine's decoders), else
    ``factory(settings)``."""
    try:
        params = inspect.signature(spec.factory).parameters.values()
    except (TypeError, ValueError):
        params = None
    kinds = [p.kind for p in params or ()]
    positional = [k for k in kinds if k in (_POSITIONAL, _POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 2 or inspect.Parameter.VAR_POSITIONAL in kinds:
        return spec.factory(settings, registry)
    return spec.factory(settings)


def create_app(
    settings: Settings | None = None,
    plugins: Iterable[object] = (),
    *,
    autoload: bool = True,
    plugin_manager: PluginManager | None = None,
    upstream: Upstream | None = None,
) -> Starlette:
    """Build the ASGI app. ``plugins`` are registered besides the installed entry points
    (``autoload=False`` to use only them); ``upstream`` overrides the configured one."""
    settings = settings or Settings()
    engine, pm = build_engine(
        settings, plugins, autoload=autoload, plugin_manager=plugin_manager, upstream=upstream
    )

    server = ServerState(engine, pm)
    if settings.log_conversations:
        server.conversations = ConversationLog(settings.conversation_log_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.ready = True
        try:
            yield
        finally:
            server.draining = True
            await engine.upstream.aclose()

    chat = Route("/v1/chat/completions", routes.chat_completions, methods=["POST"])
    app = Starlette(
        routes=[
            chat,
            Route("/chat/completions", routes.chat_completions, methods=["POST"]),
            Route("/health", routes.health, methods=["GET"]),
            Route("/health/ready", routes.ready, methods=["GET"]),
            Route("/metrics", routes.metrics, methods=["GET"]),
            Route("/v1/models", routes.models, methods=["GET"]),
            Route("/v1/optillm/approaches", routes.approaches, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                ServerMiddleware,
                api_key=settings.optillm_api_key,
                max_concurrent=settings.max_concurrent_requests,
                server=server,
            )
        ],
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    app.state.server = server
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        error_body(f"No route {request.url.path}", type="invalid_request_error", code="not_found"),
        status_code=404,
    )


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        error_body(f"Method {request.method} not allowed", type="invalid_request_error"),
        status_code=405,
    )
