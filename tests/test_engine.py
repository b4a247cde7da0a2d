"""The engine: pipelines, branches, processors, n, budget, usage, trace, library calls."""

from __future__ import annotations

import random
import types
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachResult,
    BudgetExceededError,
    ChatRequest,
    Processor,
    RequestContext,
    build_engine,
    complete,
    hookimpl,
    param,
)
from optillm_core.errors import ConfigError, InvalidRequestError
from optillm_core.testing import FakeUpstream, assert_operator_only, make_settings, upstream_for


class UpperConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suffix: str = param("", "appended to the answer", aliases=["upper_suffix"])


class Upper(Approach):
    """Asks upstream once, returns the reply upper-cased."""

    slug = "upper"
    summary = "upper-cases the upstream answer"
    Config = UpperConfig

    async def run(self, ctx: RequestContext) -> ApproachResult:
        completion = await ctx.complete()
        return ApproachResult.text(completion.text.upper() + ctx.config.suffix)


class TwoCalls(Approach):
    """Two concurrent calls then one dependent call."""

    slug = "twocalls"
    summary = "three calls in two rounds"

    async def run(self, ctx: RequestContext) -> ApproachResult:
        choices = await ctx.sample(2, ctx.messages)
        joined = " + ".join(c.text for c in choices)
        final = await ctx.complete([{"role": "user", "content": joined}])
        return ApproachResult.text(final.text)


class Tagger(Processor):
    """Adds [pre] to the last user message and wraps the answer in <post>."""

    slug = "tagger"
    summary = "pre/post test processor"

    async def __call__(self, ctx, request, call_next):  # type: ignore[no-untyped-def]
        messages = [
            *request.messages[:-1],
            {"role": "user", "content": "[pre] " + request.messages[-1]["content"]},
        ]
        result = await call_next(request.with_messages(messages))
        if result.stream is not None:
            return ApproachResult(stream=_wrap_stream(result.stream))
        result = await result.collect()
        return ApproachResult.text(f"<post>{result.first_text}</post>")


async def _wrap_stream(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    async for chunk in stream:
        for item in chunk.get("choices") or []:
            delta = item.get("delta") or {}
            if delta.get("content"):
                delta["content"] = delta["content"].replace("echo", "ECHO")
        yield chunk


plugin = types.SimpleNamespace()


@hookimpl
def register_approaches(register: Any) -> None:
    register(Upper())
    register(TwoCalls())


@hookimpl
def register_processors(register: Any) -> None:
    register(Tagger())


plugin = types.ModuleType("engine_test_plugin")
plugin.register_approaches = register_approaches  # type: ignore[attr-defined]
plugin.register_processors = register_processors  # type: ignore[attr-defined]


def engine_for(fake: FakeUpstream, **settings: Any):
    engine, _ = build_engine(
        make_settings(**settings), [plugin], autoload=False, upstream=upstream_for(fake)
    )
    return engine


def req(text: str = "hello", **body: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "fake-model", "messages": [{"role": "user", "content": text}], **body}
    )


async def run(engine, request: ChatRequest):
    outcome = await engine.run(request)
    return outcome, await outcome.result.collect()


@pytest.mark.anyio
async def test_passthrough_forwards_unknown_fields_and_strips_optillm_ones() -> None:
    fake = FakeUpstream("hi")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    outcome, result = await run(
        engine_for(fake),
        req(tools=tools, seed=3, custom_field={"a": 1}, optillm_approach="none", optillm={"x": 1}),
    )
    body = fake.bodies[0]
    assert body["tools"] == tools
    assert body["seed"] == 3
    assert body["custom_field"] == {"a": 1}
    assert "optillm_approach" not in body
    assert "optillm" not in body
    assert result.raw is not None
    assert result.first_text == "hi"


@pytest.mark.anyio
async def test_pipeline_hands_the_answer_on_as_the_last_user_message() -> None:
    fake = FakeUpstream(lambda body: "got " + body["messages"][-1]["content"])
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "earlier"},
        {"role": "user", "content": "q"},
    ]
    request = ChatRequest.model_validate({"model": "upper&upper-fake-model", "messages": messages})
    _, result = await run(engine_for(fake), request)
    assert result.first_text == "GOT GOT Q"
    second = fake.bodies[1]["messages"]
    assert second[:3] == messages[:3]  # system prompt and earlier turns kept
    assert second[-1] == {"role": "user", "content": "GOT Q"}


@pytest.mark.anyio
async def test_processor_wraps_everything_to_its_right() -> None:
    fake = FakeUpstream(lambda body: "saw " + body["messages"][-1]["content"])
    _, result = await run(engine_for(fake), req("x", model="tagger&upper-fake-model"))
    assert result.first_text == "<post>SAW [PRE] X</post>"


@pytest.mark.anyio
async def test_plan_ending_in_a_processor_gets_an_implicit_none() -> None:
    fake = FakeUpstream(lambda body: "saw " + body["messages"][-1]["content"])
    outcome, result = await run(engine_for(fake), req("x", model="tagger-fake-model"))
    assert result.first_text == "<post>saw [pre] x</post>"
    assert str(outcome.plan) == "tagger"


@pytest.mark.anyio
async def test_processor_post_step_sees_a_streamed_result() -> None:
    fake = FakeUpstream()
    outcome = await engine_for(fake).run(req("hi", model="tagger-fake-model", stream=True))
    assert outcome.result.stream is not None
    collected = await outcome.result.collect()
    assert collected.first_text == "ECHO: [pre] hi"


@pytest.mark.anyio
async def test_branches_run_concurrently_and_return_branch_major_choices() -> None:
    fake = FakeUpstream(lambda body: "a", latency=0.05)
    outcome, result = await run(engine_for(fake), req(model="upper|none-fake-model", n=2))
    assert [c.text for c in result.choices] == ["A", "A", "a", "a"]
    assert fake.dependent_rounds() == 1
    assert outcome.state.usage.calls == 3  # upper twice (n copies) + one passthrough with n=2


@pytest.mark.anyio
async def test_n_copies_of_an_approach_run_concurrently() -> None:
    fake = FakeUpstream("x", latency=0.05)
    _, result = await run(engine_for(fake), req(model="upper-fake-model", n=3))
    assert len(result.choices) == 3
    assert fake.max_in_flight == 3
    assert fake.dependent_rounds() == 1


@pytest.mark.anyio
async def test_sample_fans_out_without_native_n_and_usage_adds_up() -> None:
    fake = FakeUpstream("one two three", supports_n=False, latency=0.03)
    outcome, result = await run(engine_for(fake), req(model="twocalls-fake-model"))
    assert fake.call_count == 3
    assert fake.dependent_rounds() == 2
    assert all("n" not in body for body in fake.bodies)
    usage = outcome.state.usage
    assert usage.prompt_tokens == fake.prompt_tokens_served
    assert usage.completion_tokens == fake.completion_tokens_served
    assert [e.stage for e in outcome.state.trace.entries] == ["twocalls"] * 3


@pytest.mark.anyio
async def test_sample_uses_one_native_call_when_available() -> None:
    fake = FakeUpstream("y")
    await run(engine_for(fake), req(model="twocalls-fake-model"))
    assert fake.call_count == 2
    assert fake.bodies[0]["n"] == 2


@pytest.mark.anyio
async def test_budget_overrun_is_a_clear_error() -> None:
    fake = FakeUpstream("z")
    with pytest.raises(BudgetExceededError) as raised:
        await run(engine_for(fake, max_upstream_calls=1), req(model="twocalls-fake-model"))
    assert "budget" in raised.value.message
    assert fake.call_count <= 1


@pytest.mark.anyio
async def test_config_precedence_and_consumed_keys() -> None:
    fake = FakeUpstream("a")
    engine = engine_for(fake, plugin_options={"upper": {"suffix": "!server"}})
    _, result = await run(engine, req(model="upper-fake-model"))
    assert result.first_text == "A!server"
    _, result = await run(engine, req(model="upper-fake-model", upper_suffix="!flat"))
    assert result.first_text == "A!flat"
    assert "upper_suffix" not in fake.bodies[-1]
    _, result = await run(
        engine,
        req(
            model="upper-fake-model", upper_suffix="!flat", optillm={"upper": {"suffix": "!nested"}}
        ),
    )
    assert result.first_text == "A!nested"
    with pytest.raises(ConfigError):
        await run(engine, req(model="upper-fake-model", optillm={"upper": {"nope": 1}}))


@pytest.mark.anyio
async def test_middleware_wraps_every_request() -> None:
    seen: list[str] = []

    class Audit:
        @hookimpl
        def register_middleware(self, register: Any) -> None:
            async def audit(request: ChatRequest, call_next: Any) -> ApproachResult:
                seen.append(request.model)
                result = await call_next(request)
                seen.append("after")
                return result

            register(audit)

    fake = FakeUpstream("m")
    engine, _ = build_engine(
        make_settings(), [plugin, Audit()], autoload=False, upstream=upstream_for(fake)
    )
    await run(engine, req(model="upper-fake-model"))
    assert seen == ["upper-fake-model", "after"]


@pytest.mark.anyio
async def test_library_call_without_http() -> None:
    fake = FakeUpstream("library answer")
    body = await complete(
        {"model": "upper-fake-model", "messages": [{"role": "user", "content": "q"}]},
        settings=make_settings(),
        plugins=[plugin],
        autoload=False,
        upstream=upstream_for(fake),
    )
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "LIBRARY ANSWER"
    assert (
        body["usage"]["total_tokens"] == fake.prompt_tokens_served + fake.completion_tokens_served
    )


@pytest.mark.anyio
async def test_cancelling_a_request_cancels_its_upstream_calls() -> None:
    fake = FakeUpstream("slow", latency=5.0)
    engine = engine_for(fake)
    with anyio.move_on_after(0.3):
        await run(engine, req(model="twocalls-fake-model"))
    with anyio.fail_after(1.0):
        while fake.in_flight:
            await anyio.sleep(0.01)
    assert fake.call_count >= 1


@pytest.mark.anyio
async def test_unsupported_request_features_are_a_400_naming_them() -> None:
    from optillm_core.errors import InvalidRequestError

    fake = FakeUpstream("a")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    with pytest.raises(InvalidRequestError) as raised:
        await run(engine_for(fake), req(model="upper-fake-model", tools=tools))
    assert raised.value.code == "unsupported_feature"
    assert "'tools'" in raised.value.message
    assert fake.call_count == 0
    # passthrough honours everything
    await run(engine_for(fake), req(model="fake-model", tools=tools))
    assert fake.bodies[0]["tools"] == tools


@pytest.mark.anyio
async def test_operators_may_drop_unsupported_features_instead() -> None:
    fake = FakeUpstream("a")
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    request = ChatRequest.model_validate(
        {
            "model": "upper-fake-model",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, image]}],
            "seed": 1,
        }
    )
    outcome, result = await run(engine_for(fake, drop_unsupported_features=True), request)
    assert outcome.state.dropped_features == ["images", "seed"]
    sent = fake.bodies[0]
    assert "seed" not in sent
    assert sent["messages"][0]["content"] == [{"type": "text", "text": "look"}]
    assert result.first_text == "A"


@pytest.mark.anyio
async def test_server_default_n_applies_when_the_request_has_none() -> None:
    fake = FakeUpstream("a")
    _, result = await run(engine_for(fake, n=2), req(model="upper-fake-model"))
    assert len(result.choices) == 2
    _, result = await run(engine_for(fake, n=2), req(model="upper-fake-model", n=1))
    assert len(result.choices) == 1


class GuardedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret_path: str = param("/srv/data", "where notes go", operator_only=True)
    depth: int = param(1, "how deep")


class Guarded(Approach):
    """Echoes its config."""

    slug = "guarded"
    summary = "operator-only parameter test"
    Config = GuardedConfig

    async def run(self, ctx: RequestContext) -> ApproachResult:
        return ApproachResult.text(f"{ctx.config.secret_path}:{ctx.config.depth}")


guarded_plugin = types.ModuleType("guarded_plugin")


@hookimpl
def _register_guarded(register: Any) -> None:
    register(Guarded())


guarded_plugin.register_approaches = _register_guarded  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_operator_only_parameters_cannot_be_changed_by_a_request() -> None:
    fake = FakeUpstream()
    engine, _ = build_engine(
        make_settings(plugin_options={"guarded": {"secret_path": "/srv/ops"}}),
        [guarded_plugin],
        autoload=False,
        upstream=upstream_for(fake),
    )
    _, result = await run(engine, req(model="guarded-m", depth=3))
    assert result.first_text == "/srv/ops:3"
    _, result = await run(engine, req(model="guarded-m", secret_path="/srv/ops"))  # same value
    assert result.first_text == "/srv/ops:1"
    with pytest.raises(ConfigError, match="operator only"):
        await run(engine, req(model="guarded-m", secret_path="/etc"))
    with pytest.raises(ConfigError, match="operator only"):
        await run(engine, req(model="guarded-m", optillm={"guarded": {"secret_path": "/etc"}}))


class Capped(Approach):
    """Answers with the request's depth clamped to the operator's."""

    slug = "capped"
    summary = "operator_config test"
    Config = GuardedConfig

    async def run(self, ctx: RequestContext) -> ApproachResult:
        operator: GuardedConfig = ctx.operator_config()
        return ApproachResult.text(
            f"{operator.secret_path}:{min(ctx.config.depth, operator.depth)}"
        )


capped_plugin = types.ModuleType("capped_plugin")


@hookimpl
def _register_capped(register: Any) -> None:
    register(Capped())


capped_plugin.register_approaches = _register_capped  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_operator_config_is_the_servers_view_without_the_body() -> None:
    fake = FakeUpstream()
    engine, _ = build_engine(
        make_settings(plugin_options={"capped": {"depth": 4}}),
        [capped_plugin],
        autoload=False,
        upstream=upstream_for(fake),
    )
    _, result = await run(engine, req(model="capped-m", depth=2))
    assert result.first_text == "/srv/data:2"  # a request may lower it
    _, result = await run(engine, req(model="capped-m", optillm={"capped": {"depth": 9}}))
    assert result.first_text == "/srv/data:4"  # but not raise it


def test_bad_operator_options_fail_at_start_up() -> None:
    with pytest.raises(ConfigError, match="depth"):
        build_engine(
            make_settings(plugin_options={"guarded": {"depth": "deep"}}),
            [guarded_plugin],
            autoload=False,
            upstream=upstream_for(FakeUpstream()),
        )
    with pytest.raises(ConfigError, match="unknown plugin 'gaurded'"):
        build_engine(
            make_settings(plugin_options={"gaurded": {"depth": 2}}),
            [guarded_plugin],
            autoload=False,
            upstream=upstream_for(FakeUpstream()),
        )


@pytest.mark.anyio
async def test_a_middleware_may_answer_without_calling_the_plan() -> None:
    class Cache:
        @hookimpl
        def register_middleware(self, register: Any) -> None:
            async def cached(request: ChatRequest, call_next: Any) -> ApproachResult:
                return ApproachResult.text("from cache")

            register(cached)

    fake = FakeUpstream()
    engine, _ = build_engine(
        make_settings(), [Cache()], autoload=False, upstream=upstream_for(fake)
    )
    _, result = await run(engine, req())
    assert result.first_text == "from cache"
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_library_call_keeps_a_caller_upstream_open_and_raises_openai_errors() -> None:
    from optillm_core.errors import InvalidRequestError

    fake = FakeUpstream("again")
    upstream = upstream_for(fake)
    for _ in range(2):
        body = await complete(
            {"model": "m", "messages": [{"role": "user", "content": "q"}]},
            settings=make_settings(),
            autoload=False,
            upstream=upstream,
        )
        assert body["choices"][0]["message"]["content"] == "again"
    with pytest.raises(InvalidRequestError):
        await complete({"model": "m", "messages": []}, settings=make_settings(), upstream=upstream)
    await upstream.aclose()


def test_zero_valued_features_count_as_used() -> None:
    from optillm_core.features import requested

    assert requested(req(seed=0)) == {"seed"}
    assert requested(req(top_logprobs=0, logprobs=False)) == {"logprobs"}
    assert requested(req(logprobs=False, stop=None)) == set()


class Dice(Approach):
    """Answers with draws from the request's generator."""

    slug = "dice"
    summary = "RequestContext.rng test"
    features = frozenset({"seed"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        rng = ctx.rng()
        return ApproachResult.text(" ".join(str(rng.getrandbits(64)) for _ in range(4)))


dice_plugin = types.ModuleType("dice_plugin")


@hookimpl
def _register_dice(register: Any) -> None:
    register(Dice())


dice_plugin.register_approaches = _register_dice  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_rng_is_seeded_by_the_request_seed() -> None:
    fake = FakeUpstream()
    engine, _ = build_engine(
        make_settings(), [dice_plugin], autoload=False, upstream=upstream_for(fake)
    )

    async def draws(**body: Any) -> str:
        _, result = await run(engine, req(model="dice-m", **body))
        return result.first_text

    expected = random.Random(7)
    assert await draws(seed=7) == " ".join(str(expected.getrandbits(64)) for _ in range(4))
    assert await draws(seed=7) == await draws(seed=7)
    assert await draws(seed=8) != await draws(seed=7)
    assert await draws() != await draws()  # unseeded: fresh entropy each request
    for bad in (1.5, [1], {"a": 1}, True):
        with pytest.raises(InvalidRequestError, match="seed must be an integer") as raised:
            await draws(seed=bad)
        assert raised.value.param == "seed"
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_assert_operator_only_passes_a_refusal_and_fails_otherwise() -> None:
    fake = FakeUpstream("ok")
    error = await assert_operator_only(
        fake, [guarded_plugin], {"secret_path": "/etc"}, model="guarded-m"
    )
    assert "secret_path" in error.message
    nested = {"optillm": {"guarded": {"secret_path": "/etc"}}}
    await assert_operator_only(fake, [guarded_plugin], nested, model="guarded-m")
    with pytest.raises(AssertionError, match="was not refused"):
        await assert_operator_only(fake, [guarded_plugin], {"depth": 3}, model="guarded-m")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("stream", "n", "native_n", "streams"),
    [
        (True, 1, True, True),
        (True, 3, True, True),
        (True, 3, False, False),
        (False, 1, True, False),
    ],
)
async def test_stream_final_streams_only_when_one_call_gives_every_answer(
    stream: bool, n: int, native_n: bool, streams: bool
) -> None:
    fake = FakeUpstream("final words", supports_n=native_n)
    engine = engine_for(fake)
    state = engine.new_state()
    request = req(stream=stream, n=n)
    ctx = RequestContext(state, stage="t", request=request, model="fake-model")
    result = ctx.stream_final([{"role": "user", "content": "q"}], temperature=0.5)
    assert (result is not None) == streams
    if result is not None:
        collected = await result.collect()
        assert [c.text for c in collected.choices] == ["final words"] * n
        assert fake.call_count == 1
        assert fake.bodies[0]["temperature"] == 0.5
        assert fake.bodies[0].get("n", 1) == n
    else:
        assert fake.call_count == 0
