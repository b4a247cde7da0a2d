"""Wiring for tests: the proxy app bound to a ``FakeUpstream``, in-process or over loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpx2
import openai
from starlette.applications import Starlette

from ..server.app import create_app
from ..settings import Settings
from ..upstream.base import Capabilities
from ..upstream.openai_compat import OpenAICompatibleUpstream
from ._fake_serve import serve_async, serve_thread
from .fake_upstream import FakeUpstream


def upstream_for(
    fake: FakeUpstream,
    base_url: str | None = None,
    *,
    max_retries: int = 0,
    idle_timeout: float | None = None,
    api_key: str = "test-upstream-key",
) -> OpenAICompatibleUpstream:
    """An ``openai`` upstream talking to ``fake``: in-process, or over HTTP at ``base_url``.

    No retries unless ``max_retries`` says so; ``idle_timeout`` is the streams' read timeout.
    """
    http_client = httpx2.AsyncClient() if base_url else fake.asgi_client()
    client = openai.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url or "http://fake-upstream/v1",
        max_retries=max_retries,
        http_client=http_client,
    )
    return OpenAICompatibleUpstream(
        client, capabilities=Capabilities(n=fake.supports_n), idle_timeout=idle_timeout
    )


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: model ``fake-model``, strict plugins, everything else default."""
    values: dict[str, Any] = {"model": "fake-model", "strict_plugins": True}
    values.update(overrides)
    return Settings(**values)


def make_app(
    fake: FakeUpstream,
    plugins: Iterable[object] = (),
    *,
    autoload: bool = False,
    base_url: str | None = None,
    **settings: Any,
) -> Starlette:
    """The proxy app with ``plugins`` (and installed ones when ``autoload``) over ``fake``.

    The upstream makes no retries unless ``upstream_max_retries`` is given; it honours
    ``upstream_idle_timeout`` and sends ``openai_api_key`` when they are given.
    """
    upstream = upstream_for(
        fake,
        base_url,
        max_retries=settings.get("upstream_max_retries", 0),
        idle_timeout=settings.get("upstream_idle_timeout"),
        api_key=settings.get("openai_api_key") or "test-upstream-key",
    )
    return create_app(make_settings(**settings), plugins, autoload=autoload, upstream=upstream)


def openai_client(app: Any, **options: Any) -> openai.AsyncOpenAI:
    """A real ``AsyncOpenAI`` client calling ``app`` in-process."""
    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(
        api_key=options.pop("api_key", "test-proxy-key"),
        base_url="http://optillm.test/v1",
        max_retries=options.pop("max_retries", 0),
        http_client=http_client,
        **options,
    )


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port in the running loop; yields its ``…/v1`` URL."""
    async with serve_async(app) as base_url:
        yield base_url


@contextlib.contextmanager
def serve_app_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port from a thread; yields its ``…/v1`` URL."""
    with serve_thread(app) as base_url:
        yield base_url
