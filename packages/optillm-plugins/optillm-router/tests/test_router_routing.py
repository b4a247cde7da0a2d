"""Which approach the router runs, with which parameters, and what the response says about it.
Each test forces the classifier's answer through the saved head's bias."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest
from router_testkit import build_classifier, probability, router_app

from optillm_bon import plugin as bon_plugin
from optillm_core.testing import FakeUpstream, openai_client
from optillm_moa import plugin as moa_plugin
from optillm_re2 import plugin as re2_plugin
from optillm_z3 import plugin as z3_plugin

USER = [{"role": "user", "content": "what is the capital of france"}]


async def ask(app, **options):  # type: ignore[no-untyped-def]
    async with openai_client(app) as client:
        return await client.chat.completions.with_raw_response.create(
            model="router-fake-model", messages=options.pop("messages", USER), **options
        )


@pytest.mark.anyio
async def test_predicted_label_runs_with_the_requests_own_parameters() -> None:
    fake = FakeUpstream("Paris")
    biases = {"moa": 5.0, "bon": 3.0}
    app = router_app(fake, [moa_plugin, bon_plugin], model_path=build_classifier(biases))
    raw = await ask(app, temperature=0.2, extra_body={"candidates": 2, "best_of_n": 7})
    assert raw.http_response.headers["x-optillm-routed"] == "moa;p=0.83"
    assert probability(biases, "moa") == "0.83"
    assert raw.http_response.headers["x-optillm-approach"] == "router"
    assert raw.parse().choices[0].message.content == "Paris"
    drafts = fake.bodies[0]
    assert drafts["n"] == 2  # the client's moa `candidates`, not moa's default 3
    assert fake.call_count == 3  # moa: drafts, critique, final
    for body in fake.bodies:
        assert "candidates" not in body and "best_of_n" not in body


@pytest.mark.anyio
async def test_nested_parameters_of_the_routed_approach_apply() -> None:
    fake = FakeUpstream("Paris")
    app = router_app(fake, [moa_plugin], model_path=build_classifier({"moa": 5.0}))
    await ask(app, extra_body={"optillm": {"moa": {"candidates": 4}}})
    assert fake.bodies[0]["n"] == 4


@pytest.mark.anyio
async def test_label_not_installed_falls_to_the_next_most_probable_installed_one() -> None:
    fake = FakeUpstream("Paris")
    biases = {"z3": 6.0, "mcts": 5.0, "re2": 4.0, "moa": 1.0}
    app = router_app(fake, [moa_plugin, re2_plugin], model_path=build_classifier(biases))
    raw = await ask(app)
    assert raw.http_response.headers["x-optillm-routed"] == f"re2;p={probability(biases, 're2')}"
    assert fake.call_count == 1  # re2: one call that reads the question twice
    assert "Read the question again" in json.dumps(fake.bodies[0]["messages"])


@pytest.mark.anyio
async def test_code_executing_label_is_passed_over_even_when_installed() -> None:
    fake = FakeUpstream("Paris")
    biases = {"z3": 6.0, "re2": 3.0}
    app = router_app(fake, [z3_plugin, re2_plugin], model_path=build_classifier(biases))
    raw = await ask(app)
    assert raw.http_response.headers["x-optillm-routed"] == f"re2;p={probability(biases, 're2')}"
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_label_that_cannot_honour_the_request_is_passed_over() -> None:
    fake = FakeUpstream("ok")
    model = build_classifier({"moa": 6.0, "none": 1.0})
    app = router_app(fake, [moa_plugin], model_path=model)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    raw = await ask(app, tools=tools)
    assert raw.http_response.headers["x-optillm-routed"].startswith("none;p=")
    assert fake.call_count == 1
    assert fake.bodies[0]["tools"] == tools  # passthrough kept the tools


@pytest.mark.anyio
async def test_n_is_passed_to_the_routed_approach() -> None:
    fake = FakeUpstream("Paris", supports_n=False)
    app = router_app(fake, [re2_plugin], model_path=build_classifier({"re2": 5.0}))
    raw = await ask(app, n=3)
    assert [c.index for c in raw.parse().choices] == [0, 1, 2]
    assert all(int(b.get("n") or 1) == 1 for b in fake.bodies)


@pytest.mark.anyio
async def test_streaming_through_the_routed_approach_keeps_the_header() -> None:
    fake = FakeUpstream("Paris is the capital")
    app = router_app(fake, [moa_plugin], model_path=build_classifier({"moa": 5.0}))
    async with (
        openai_client(app) as client,
        client.chat.completions.with_streaming_response.create(
            model="router-fake-model", messages=USER, stream=True
        ) as response,
    ):
        routed = response.http_response.headers["x-optillm-routed"]
        assert routed == f"moa;p={probability({'moa': 5.0}, 'moa')}"
        text = "".join(
            [c.choices[0].delta.content or "" async for c in await response.parse() if c.choices]
        )
    assert text == "Paris is the capital"


@pytest.mark.anyio
async def test_effort_input_reaches_the_classifier() -> None:
    model = build_classifier({"none": 1.0}, effort_label="re2")
    fake = FakeUpstream("x")
    app = router_app(fake, [re2_plugin], model_path=model)
    low = await ask(app, extra_body={"effort": 0.0})
    high = await ask(app, extra_body={"optillm": {"router": {"effort": 0.9}}})
    assert low.http_response.headers["x-optillm-routed"].startswith("none;")
    assert high.http_response.headers["x-optillm-routed"] == "re2;p=1.00"
    assert all("effort" not in body for body in fake.bodies)


@pytest.mark.anyio
async def test_operator_only_parameter_in_the_request_is_a_400() -> None:
    fake = FakeUpstream("x")
    app = router_app(fake, model_path=build_classifier({"none": 1.0}))
    with pytest.raises(openai.BadRequestError) as raised:
        await ask(app, extra_body={"optillm": {"router": {"model_path": "/etc"}}})
    assert "operator" in raised.value.message
    with pytest.raises(openai.BadRequestError):
        await ask(app, extra_body={"optillm": {"router": {"fallback": "none"}}})
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_long_prompt_is_cut_to_max_length() -> None:
    fake = FakeUpstream("x")
    app = router_app(fake, model_path=build_classifier({"none": 2.0}), max_length=16)
    messages = [
        {"role": "system", "content": "you are a helpful assistant " * 50},
        {"role": "user", "content": "write a python function " * 2000},
    ]
    raw = await ask(app, messages=messages)
    assert raw.http_response.headers["x-optillm-routed"].startswith("none;")


@pytest.mark.anyio
async def test_approaches_endpoint_lists_labels_and_which_are_installed() -> None:
    app = router_app(FakeUpstream("x"), [moa_plugin, bon_plugin])
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
        rows = (await client.get("/v1/optillm/approaches")).json()["data"]
    row = next(r for r in rows if r["slug"] == "router")
    installed = {item["label"]: item["installed"] for item in row["labels"]}
    assert list(installed) == [
        "none",
        "mcts",
        "bon",
        "moa",
        "rto",
        "z3",
        "self_consistency",
        "pvg",
        "rstar",
        "cot_reflection",
        "plansearch",
        "leap",
        "re2",
    ]
    assert {label for label, yes in installed.items() if yes} == {"none", "bon", "moa"}
    notes = {item["label"]: item.get("note") for item in row["labels"] if item.get("note")}
    assert list(notes) == ["z3"]
    assert "model_path" in row["parameters"]["properties"]
