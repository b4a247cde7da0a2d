"""The litellm upstream's parts: selection, the lazy import, field policy, error mapping."""

from __future__ import annotations

import importlib.metadata
import os
import threading

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anyio
import pytest
from litellm_testkit import MODEL, PROVIDER_KEY

from optillm_core import Settings, UpstreamError, build_registry, make_plugin_manager
from optillm_core.testing import FakeUpstream, Fault, make_settings
from optillm_core.upstream.select import choose_upstream
from optillm_litellm import LiteLLMUpstream, litellm_upstream, plugin
from optillm_litellm.convert import is_transport_field, refused_fields
from optillm_litellm.errors import translate_error
from optillm_litellm.upstream import LiteLLM, import_litellm

QUESTION = [{"role": "user", "content": "hi there"}]
#: Every field of OpenAI's chat-completions request: none may be refused.
OPENAI_FIELDS = [
    "model",
    "messages",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
]
#: Provider extras LiteLLM understands: they must pass too.
PROVIDER_EXTRAS = ["top_k", "thinking", "safety_settings", "extra_body", "repetition_penalty"]


def _choose(**settings: str) -> str:
    empty = {"base_url": "", "openai_api_key": "", "azure_openai_api_key": ""}
    empty |= {"azure_api_base": "", "azure_api_version": "", "optillm_api_key": ""}
    registry = build_registry(make_plugin_manager(autoload=False, plugins=[plugin]))
    return choose_upstream(make_settings(**(empty | settings)), registry.upstreams).name


def test_litellm_is_chosen_when_nothing_else_is_configured() -> None:
    assert _choose() == "litellm"
    assert _choose(base_url="http://127.0.0.1:9/v1") == "openai"
    assert _choose(upstream="litellm", base_url="http://127.0.0.1:9/v1") == "litellm"


def test_factory_maps_the_server_settings() -> None:
    upstream = litellm_upstream(
        Settings(
            base_url="http://127.0.0.1:9/v1",
            upstream_timeout=12.5,
            upstream_max_retries=4,
            ssl_verify=False,
            openai_api_key="sk-not-for-litellm",
        )
    )
    assert upstream.fixed_kwargs() == {
        "timeout": 12.5,
        "num_retries": 4,
        "api_base": "http://127.0.0.1:9/v1",
        "ssl_verify": False,
    }
    assert upstream.capabilities.n is False
    assert upstream.capabilities.logprobs is False
    assert upstream.capabilities.streaming and upstream.capabilities.tools
    assert upstream.with_api_key("sk-client").fixed_kwargs()["api_key"] == "sk-client"
    assert "api_base" not in litellm_upstream(Settings(base_url="")).fixed_kwargs()


def test_openai_fields_and_provider_extras_are_never_refused() -> None:
    library = import_litellm()
    assert refused_fields([*OPENAI_FIELDS, *PROVIDER_EXTRAS], library.owns) == []


@pytest.mark.parametrize(
    "name",
    [
        "api_base",
        "base_url",
        "api_key",
        "timeout",
        "num_retries",
        "extra_headers",
        "aws_access_key_id",
        "aws_bedrock_runtime_endpoint",
        "vertex_credentials",
        "vertex_project",
        "azure_ad_token",
        "watsonx_url",
        "sagemaker_base_url",
        "oci_key_file",
        "gemini_api_key",
        "custom_llm_provider",
        "fallbacks",
        "_internal",
    ],
)
def test_transport_fields_are_refused(name: str) -> None:
    library = import_litellm()
    assert refused_fields([name], library.owns) == [name]


def test_litellm_owned_kwargs_are_refused() -> None:
    library = import_litellm()
    assert is_transport_field("tags") is False
    assert refused_fields(["tags", "temperature"], library.owns) == ["tags"]


def test_error_mapping_of_litellm_exceptions() -> None:
    import litellm

    timeout = translate_error(litellm.Timeout(message="t", model="m", llm_provider="openai"))
    assert (timeout.status, timeout.code) == (504, "upstream_timeout")
    unreachable = translate_error(
        litellm.APIConnectionError(message="refused", llm_provider="openai", model="m")
    )
    assert (unreachable.status, unreachable.code) == (502, "upstream_unreachable")
    unavailable = translate_error(
        litellm.ServiceUnavailableError(message="busy", llm_provider="openai", model="m")
    )
    assert unavailable.status == 502
    window = translate_error(
        litellm.ContextWindowExceededError(message="too long", model="m", llm_provider="x")
    )
    assert window.status == 400
    assert not window.message.startswith("Upstream error: litellm.")
    other = translate_error(RuntimeError("weird"))
    assert (other.status, other.code) == (502, "upstream_bad_response")


def test_versions_below_1_83_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.82.8")
    with pytest.raises(UpstreamError, match=r"1\.82\.8") as caught:
        import_litellm()
    assert caught.value.status == 503


@pytest.mark.anyio
async def test_litellm_is_imported_once_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_KEY)
    threads: list[int] = []

    def importer() -> LiteLLM:
        threads.append(threading.get_ident())
        return import_litellm()

    fake = FakeUpstream("ok")
    async with fake.serve() as url:
        upstream = LiteLLMUpstream(api_base=url, num_retries=0, importer=importer)
        view = upstream.with_api_key(PROVIDER_KEY)
        body = {"model": MODEL, "messages": QUESTION}
        async with anyio.create_task_group() as group:
            for target in (upstream, upstream, view, view):
                group.start_soon(target.create, body)
        await view.create(body)
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    assert fake.call_count == 5


@pytest.mark.anyio
async def test_a_stream_cut_short_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_KEY)
    fake = FakeUpstream("one two three four five six seven eight")
    fake.fail_next(Fault(stream_cut=True))
    async with fake.serve() as url:
        upstream = LiteLLMUpstream(api_base=url, num_retries=0)
        with pytest.raises(UpstreamError) as caught:
            async for _ in upstream.stream({"model": MODEL, "messages": QUESTION}):
                pass
    assert caught.value.status == 502


@pytest.mark.anyio
async def test_the_request_body_is_not_modified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_KEY)
    fake = FakeUpstream("ok")
    body = {"model": MODEL, "messages": QUESTION, "metadata": {"team": "a"}}
    async with fake.serve() as url:
        await LiteLLMUpstream(api_base=url, num_retries=0).create(body)
    assert body == {"model": MODEL, "messages": QUESTION, "metadata": {"team": "a"}}
