"""The local engine behind the proxy: upstream selection, flags, and end-to-end requests with the
real ``openai`` client (an approach, ``n``, streaming, decoders, errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import openai
import pytest

from optillm_bon import plugin as bon_plugin
from optillm_core import Settings, create_app, hookimpl
from optillm_core.cli import build_parser
from optillm_core.plugins import make_plugin_manager
from optillm_core.registry import build_registry
from optillm_core.settings import build_settings
from optillm_core.settings_plugins import plugin_env_names
from optillm_core.testing import make_settings, serve_app
from optillm_core.upstream.select import choose_upstream
from optillm_local import LocalUpstream, plugin
from optillm_local.cache import ModelCache
from optillm_local.testing import TinyModel

pytestmark = pytest.mark.anyio


def _registry() -> Any:
    return build_registry(make_plugin_manager(autoload=False, plugins=[plugin]))


def test_optillm_api_key_alone_selects_local() -> None:
    registry = _registry()
    assert choose_upstream(Settings(optillm_api_key="k"), registry.upstreams).name == "local"
    assert choose_upstream(Settings(upstream="local"), registry.upstreams).name == "local"
    chosen = choose_upstream(
        Settings(optillm_api_key="k", base_url="http://127.0.0.1:9/v1"), registry.upstreams
    )
    assert chosen.name == "openai", "another configured upstream wins over OPTILLM_API_KEY"


def test_local_flags_and_environment_reach_the_upstream() -> None:
    pm = make_plugin_manager(autoload=False, plugins=[plugin])
    registry = build_registry(pm)
    parser = build_parser(registry, pm)
    args = vars(
        parser.parse_args(
            [
                "serve",
                "--upstream",
                "local",
                "--local-device",
                "cpu",
                "--local-dtype",
                "bfloat16",
                "--local-max-models",
                "3",
            ]
        )
    )
    flags = {
        key.split(".", 1)[1]: value
        for key, value in args.items()
        if key.startswith("plugin:local.")
    }
    env = {"OPTILLM_MAX_TOKENS": "77", "OPTILLM_LOCAL_CONCURRENCY": "5"}
    settings = build_settings(
        {"upstream": "local"},
        env=env,
        plugin_flags={"local": flags},
        plugin_env=plugin_env_names(registry),
    )
    app = create_app(settings, [plugin], autoload=False)
    upstream = app.state.server.engine.upstream
    assert isinstance(upstream, LocalUpstream)
    config = upstream.config
    assert (config.device, config.dtype, config.max_models) == ("cpu", "bfloat16", 3)
    assert (config.max_tokens, config.concurrency) == (77, 5)
    assert set(upstream.decoders) == {"cot_decoding", "entropy_decoding"}


class ThirdPartyDecoders:
    """A plugin object contributing a decoder through the hook."""

    @hookimpl
    def register_decoders(self, register: Any) -> None:
        register(SimpleNamespace(name="mine", summary="", streams=False, decode=None))


def test_decoders_registered_by_other_plugins_reach_the_local_upstream() -> None:
    settings = make_settings(upstream="local", model="m")
    app = create_app(settings, [plugin, ThirdPartyDecoders()], autoload=False)
    assert set(app.state.server.engine.upstream.decoders) == {
        "cot_decoding",
        "entropy_decoding",
        "mine",
    }


@pytest.fixture
async def proxy(tiny: TinyModel, shared_cache: ModelCache) -> AsyncIterator[openai.AsyncOpenAI]:
    """The proxy with bon and the local upstream on a loopback port, and a real client."""
    settings = make_settings(upstream="local", model=str(tiny.path))
    app = create_app(settings, [plugin, bon_plugin], autoload=False)
    app.state.server.engine.upstream.cache = shared_cache
    async with (
        serve_app(app) as base_url,
        openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0) as client,
    ):
        yield client


async def test_an_approach_runs_on_the_local_engine(
    proxy: openai.AsyncOpenAI, tiny: TinyModel
) -> None:
    raw = await proxy.chat.completions.with_raw_response.create(
        model=f"bon-{tiny.path}",
        messages=[{"role": "user", "content": "What is 2 + 3?"}],
        max_tokens=6,
        extra_body={"rating_max_tokens": 6, "best_of_n": 3},
    )
    response = raw.parse()
    assert raw.headers["x-optillm-approach"] == "bon"
    assert raw.headers["x-optillm-upstream-calls"] == "4", "3 candidates in one call, 3 ratings"
    assert response.model == str(tiny.path)
    assert response.choices[0].message.content
    assert response.usage is not None and response.usage.completion_tokens > 6


async def test_passthrough_n_logprobs_and_streaming(
    proxy: openai.AsyncOpenAI, tiny: TinyModel
) -> None:
    response = await proxy.chat.completions.create(
        model=str(tiny.path),
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=5,
        n=3,
        seed=9,
        logprobs=True,
        top_logprobs=2,
        logit_bias={"2": -100},
    )
    assert len(response.choices) == 3
    assert all(c.finish_reason == "length" for c in response.choices)
    first = response.choices[0]
    assert first.logprobs is not None and first.logprobs.content is not None
    assert len(first.logprobs.content) == 5
    assert len(first.logprobs.content[0].top_logprobs) == 2
    stream = await proxy.chat.completions.create(
        model=str(tiny.path),
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=5,
        n=3,
        seed=9,
        logit_bias={"2": -100},
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: dict[int, str] = {}
    usage = None
    async for chunk in stream:
        for choice in chunk.choices:
            pieces[choice.index] = pieces.get(choice.index, "") + (choice.delta.content or "")
        usage = chunk.usage or usage
    assert [pieces[i] for i in range(3)] == [c.message.content for c in response.choices]
    assert usage is not None and usage.completion_tokens == 15


async def test_decoders_through_the_proxy(proxy: openai.AsyncOpenAI, tiny: TinyModel) -> None:
    response = await proxy.chat.completions.create(
        model=tiny.model_string(0),
        messages=[{"role": "user", "content": "What is 2 + 3?"}],
        extra_body={"decoding": "cot_decoding", "k": 3, "max_tokens": 5, "decoding_stats": True},
    )
    extra = response.choices[0].model_extra or {}
    assert len(extra["optillm_decoding"]["paths"]) == 3
    with pytest.raises(openai.BadRequestError) as info:
        await proxy.chat.completions.create(
            model=str(tiny.path),
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"decoding": "no_such_decoder"},
        )
    assert "cot_decoding" in str(info.value)


async def test_unknown_model_is_404_through_the_proxy(proxy: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await proxy.chat.completions.create(
            model="/nonexistent/model", messages=[{"role": "user", "content": "hi"}]
        )


async def test_models_lists_the_configured_model(
    proxy: openai.AsyncOpenAI, tiny: TinyModel
) -> None:
    ids = [m.id async for m in proxy.models.list()]
    assert ids[0] == str(tiny.path)
