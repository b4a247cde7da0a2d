"""Wiring for tests: the proxy app bound to a ``FakeUpstream``, in-process or over loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
import openai
from starlette.applications import Starlette

from ..executor import Outcome
from ..models import ChatRequest
from ..results import ApproachResult
from ..server.app import build_engine, create_app
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


@dataclass(frozen=True)
class ServedProxy:
    """What ``served_proxy`` yields: the pieces of a loopback end-to-end setup."""

    fake: FakeUpstream
    """The fake upstream, served over HTTP at ``upstream_url``."""
    app: Starlette
    """The proxy app (``app.state.server`` holds metrics and the registry)."""
    client: openai.AsyncOpenAI
    """A real ``AsyncOpenAI`` client (no retries) pointed at ``proxy_url``."""
    proxy_url: str
    """The proxy's ``http://127.0.0.1:PORT/v1`` URL."""
    upstream_url: str
    """The fake upstream's ``http://127.0.0.1:PORT/v1`` URL."""


@contextlib.asynccontextmanager
async def served_proxy(
    fake: FakeUpstream,
    plugins: Iterable[object] = (),
    *,
    app_factory: Callable[..., Starlette] = make_app,
    **settings: Any,
) -> AsyncIterator[ServedProxy]:
    """True end to end over loopback HTTP: ``fake`` served on a free port, the proxy with
    ``plugins`` over it served on another, and a real ``openai.AsyncOpenAI`` client
    (``max_retries=0``) calling the proxy.

    The app is ``app_factory(fake, plugins, base_url=<upstream URL>, **settings)`` —
    ``make_app`` unless a test kit wraps it. Everything is closed on exit; asyncio only::

        async with served_proxy(FakeUpstream("hi"), [plugin]) as served:
            await served.client.chat.completions.create(model="bon-fake-model", ...)
    """
    async with fake.serve() as upstream_url:
        app = app_factory(fake, list(plugins), base_url=upstream_url, **settings)
        async with (
            serve_app(app) as proxy_url,
            openai.AsyncOpenAI(base_url=proxy_url, api_key="k", max_retries=0) as client,
        ):
            yield ServedProxy(fake, app, client, proxy_url, upstream_url)


SelectionWay = Literal["model prefix", "body field", "message tag"]
SELECTION_WAYS: tuple[SelectionWay, ...] = ("model prefix", "body field", "message tag")
"""The three ways a client selects an approach; parametrize end-to-end tests over them."""


def selection_kwargs(
    slug: str,
    way: SelectionWay,
    messages: Sequence[dict[str, Any]],
    *,
    model: str = "fake-model",
    extra_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``client.chat.completions.create`` that send ``messages`` (and
    ``extra_body``) so that the proxy runs ``slug`` on ``model``, selected ``way``:

    - ``"model prefix"``: model ``f"{slug}-{model}"``;
    - ``"body field"``: ``optillm_approach`` in the body;
    - ``"message tag"``: ``<optillm_approach>slug</optillm_approach> `` put before the text of
      the system message, or of the last user message when there is none.

    ``messages`` is not changed; the upstream should see it as given in every way.
    """
    sent = [dict(message) for message in messages]
    body = dict(extra_body or {})
    if way == "model prefix":
        model = f"{slug}-{model}"
    elif way == "body field":
        body["optillm_approach"] = slug
    elif way == "message tag":
        systems = [message for message in sent if message["role"] == "system"]
        target = (systems or [message for message in sent if message["role"] == "user"])[-1]
        target["content"] = f"<optillm_approach>{slug}</optillm_approach> {target['content']}"
    else:
        raise ValueError(f"unknown selection way {way!r}")
    return {"model": model, "messages": sent, "extra_body": body}


async def assert_operator_only(
    fake: FakeUpstream,
    plugins: Iterable[object],
    body: dict[str, Any],
    *,
    model: str,
    content: str = "hi",
    **settings: Any,
) -> openai.BadRequestError:
    """Assert that a request sending ``body`` (extra body fields that set operator-only
    parameters, flat or under ``optillm``) to ``model`` is refused: a 400 saying the
    parameter "is set by the server operator only", before any call reaches ``fake``.

    The proxy is ``make_app(fake, plugins, **settings)`` in-process; returns the error.
    """
    async with openai_client(make_app(fake, plugins, **settings)) as client:
        try:
            await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": content}], extra_body=body
            )
        except openai.BadRequestError as error:
            refused = error
        else:
            raise AssertionError(f"a request with {body!r} was not refused")
    assert refused.status_code == 400, refused.status_code
    assert "is set by the server operator only" in refused.message, refused.message
    assert fake.call_count == 0, f"{fake.call_count} upstream call(s) before the refusal"
    return refused


async def run_in_process(
    fake: FakeUpstream,
    plugins: Iterable[object],
    slug: str,
    question: str,
    *,
    body: dict[str, Any] | None = None,
    **settings: Any,
) -> tuple[Outcome, ApproachResult]:
    """Run one request for ``slug`` through a fresh engine over ``fake`` (no HTTP).

    Returns the outcome (plan, usage, trace, state) and the collected result; ``body`` adds
    request fields, ``settings`` are server settings.
    """
    engine, _ = build_engine(
        make_settings(**settings), plugins, autoload=False, upstream=upstream_for(fake)
    )
    request = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": question}],
        "optillm_approach": slug,
        **(body or {}),
    }
    outcome = await engine.run(ChatRequest.model_validate(request))
    return outcome, await outcome.result.collect()
