"""``RequestContext.run_approach``: a stage hands the request to another installed approach
(what a router does) with the client's own parameters, and says so in response headers."""

from __future__ import annotations

import types
from typing import Any, ClassVar

import httpx2
import pytest
from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachResult,
    ChatRequest,
    OptillmError,
    RequestContext,
    build_engine,
    hookimpl,
    param,
)
from optillm_core.codeexec import require_explicit_selection
from optillm_core.testing import FakeUpstream, make_app, make_settings, openai_client, upstream_for

USER = [{"role": "user", "content": "hello"}]


class SuffixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suffix: str = param("", "appended to the answer", aliases=["suffix_text"])


class Suffix(Approach):
    """One upstream call; appends its configured suffix."""

    slug = "suffix"
    summary = "appends a suffix"
    Config = SuffixConfig

    async def run(self, ctx: RequestContext) -> ApproachResult:
        completion = await ctx.complete(**ctx.request_params(["temperature"]))
        return ApproachResult.text(completion.text + ctx.config.suffix)


class OtherConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    other_knob: int = param(1, "a key of an approach that is not picked")


class Other(Approach):
    slug = "other"
    summary = "never picked"
    Config = OtherConfig

    async def run(self, ctx: RequestContext) -> ApproachResult:
        return ApproachResult.text("other")


class Coder(Approach):
    """Stands for a code-executing approach: checks how it was selected first."""

    slug = "coder"
    summary = "executes code"

    async def run(self, ctx: RequestContext) -> ApproachResult:
        require_explicit_selection(ctx)
        return ApproachResult.text(f"ran ({ctx.plan_source})")


class DelegateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = param("suffix", "the approach to hand the request to")


class Delegate(Approach):
    """Hands the request to ``target`` and says so in a response header."""

    slug = "delegate"
    summary = "runs another approach"
    Config = DelegateConfig
    handles_n: ClassVar[bool] = True
    features = frozenset({"tools", "response_format", "stop", "seed", "images", "logprobs"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        ctx.state.response_headers["x-optillm-routed"] = f"{ctx.config.target};p=1.00"
        installed = ctx.installed_approaches
        ctx.state.response_headers["x-test-installed"] = ",".join(sorted(installed))
        return await ctx.run_approach(ctx.config.target, consume=["other"])


@hookimpl
def register_approaches(register: Any) -> None:
    register(Suffix())
    register(Other())
    register(Delegate())
    register(Coder())


plugin = types.ModuleType("run_approach_test_plugin")
plugin.register_approaches = register_approaches  # type: ignore[attr-defined]


def engine_for(fake: FakeUpstream, **settings: Any) -> Any:
    engine, _ = build_engine(
        make_settings(**settings), [plugin], autoload=False, upstream=upstream_for(fake)
    )
    return engine


def req(**body: Any) -> ChatRequest:
    return ChatRequest.model_validate({"model": "delegate-fake-model", "messages": USER, **body})


@pytest.mark.anyio
async def test_routed_approach_gets_the_clients_parameters_and_they_do_not_go_upstream() -> None:
    fake = FakeUpstream("answer")
    outcome = await engine_for(fake).run(req(suffix_text="!", temperature=0.3, other_knob=5))
    result = await outcome.result.collect()
    assert result.first_text == "answer!"
    body = fake.bodies[0]
    assert body["temperature"] == 0.3
    assert "suffix_text" not in body
    assert "other_knob" not in body
    assert [e.stage for e in outcome.state.trace.entries] == ["suffix"]
    assert outcome.state.usage.calls == 1


@pytest.mark.anyio
async def test_nested_parameters_reach_the_routed_approach() -> None:
    fake = FakeUpstream("a")
    request = req(optillm={"suffix": {"suffix": "?"}})
    result = await (await engine_for(fake).run(request)).result.collect()
    assert result.first_text == "a?"


@pytest.mark.anyio
async def test_routed_passthrough_forwards_the_body_without_approach_keys() -> None:
    fake = FakeUpstream("plain")
    request = req(optillm={"delegate": {"target": "none"}}, other_knob=3, suffix_text="x", seed=4)
    result = await (await engine_for(fake).run(request)).result.collect()
    assert result.first_text == "plain"
    body = fake.bodies[0]
    assert body["seed"] == 4
    assert "other_knob" not in body  # consumed: the delegate might have picked ``other``
    assert "optillm" not in body
    # ``suffix`` was neither picked nor named in ``consume``: its key is forwarded
    assert body["suffix_text"] == "x"


@pytest.mark.anyio
async def test_routed_approach_runs_n_copies_when_it_does_not_handle_n() -> None:
    fake = FakeUpstream("x", latency=0.02)
    outcome = await engine_for(fake).run(req(n=3, suffix_text="."))
    result = await outcome.result.collect()
    assert [c.text for c in result.choices] == ["x.", "x.", "x."]
    assert fake.dependent_rounds() == 1


@pytest.mark.anyio
async def test_bad_parameter_of_the_routed_approach_is_a_400() -> None:
    fake = FakeUpstream("x")
    with pytest.raises(OptillmError) as raised:
        await engine_for(fake).run(req(optillm={"suffix": {"suffix": ["no"]}}))
    assert raised.value.status == 400
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_unsupported_feature_of_the_routed_approach_is_refused_or_dropped() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    fake = FakeUpstream("x")
    with pytest.raises(OptillmError) as raised:
        await engine_for(fake).run(req(tools=tools))
    assert raised.value.status == 400
    assert "tools" in raised.value.message
    outcome = await engine_for(fake, drop_unsupported_features=True).run(req(tools=tools))
    await outcome.result.collect()
    assert outcome.state.dropped_features == ["tools"]
    assert "tools" not in fake.bodies[-1]


@pytest.mark.anyio
async def test_unknown_or_disallowed_target_is_refused() -> None:
    fake = FakeUpstream("x")
    with pytest.raises(OptillmError) as raised:
        await engine_for(fake).run(req(optillm={"delegate": {"target": "nope"}}))
    assert raised.value.status == 400
    engine = engine_for(fake, allowed_approaches=["delegate"])
    outcome = await engine.run(req(optillm={"delegate": {"target": "none"}}))
    await outcome.result.collect()
    assert outcome.state.response_headers["x-test-installed"] == "delegate,none"
    with pytest.raises(OptillmError, match="not installed or not allowed"):
        await engine.run(req())


@pytest.mark.anyio
async def test_a_routed_approach_is_not_an_explicit_choice_of_code_execution() -> None:
    fake = FakeUpstream("x")
    engine = engine_for(fake)
    direct = await (await engine.run(req(model="coder-fake-model"))).result.collect()
    assert direct.first_text == "ran (model)"
    with pytest.raises(OptillmError) as raised:
        await engine.run(req(optillm={"delegate": {"target": "coder"}}))
    assert raised.value.status == 400
    assert raised.value.code == "code_execution_not_allowed"


@pytest.mark.anyio
async def test_a_stage_cannot_run_itself() -> None:
    fake = FakeUpstream("x")
    with pytest.raises(OptillmError, match="cannot run itself"):
        await engine_for(fake).run(req(optillm={"delegate": {"target": "delegate"}}))


@pytest.mark.anyio
async def test_response_headers_set_by_a_stage_reach_the_client_plain_and_streamed() -> None:
    fake = FakeUpstream("hi")
    app = make_app(fake, [plugin])
    async with openai_client(app) as client:
        plain = await client.chat.completions.with_raw_response.create(
            model="delegate-fake-model", messages=USER
        )
        assert plain.http_response.headers["x-optillm-routed"] == "suffix;p=1.00"
        async with client.chat.completions.with_streaming_response.create(
            model="delegate-fake-model", messages=USER, stream=True
        ) as streamed:
            assert streamed.http_response.headers["x-optillm-routed"] == "suffix;p=1.00"
            text = "".join(
                [
                    c.choices[0].delta.content or ""
                    async for c in await streamed.parse()
                    if c.choices
                ]
            )
    assert text == "hi"


class Describing(Approach):
    slug = "describing"
    summary = "describes what is installed"

    async def run(self, ctx: RequestContext) -> ApproachResult:
        return ApproachResult.text("x")

    def describe(self, registry: Any = None) -> dict[str, Any]:
        installed = sorted(registry.approaches) if registry is not None else None
        return {**super().describe(registry), "installed": installed}


@pytest.mark.anyio
async def test_approaches_endpoint_passes_the_registry_to_describe() -> None:
    extra = types.ModuleType("describing_plugin")
    extra.register_approaches = hookimpl(lambda register: register(Describing()))  # type: ignore[attr-defined]
    app = make_app(FakeUpstream("x"), [plugin, extra])
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
        rows = (await client.get("/v1/optillm/approaches")).json()["data"]
    row = next(r for r in rows if r["slug"] == "describing")
    assert row["installed"] == ["coder", "delegate", "describing", "none", "other", "suffix"]
