"""End to end: the real ``openai`` client -> the proxy on a loopback port -> FakeUpstream over
HTTP, with ``router-<model>``; the classifier is loaded from disk through the real code."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from router_testkit import build_classifier, probability, router_app

from optillm_bon import plugin as bon_plugin
from optillm_core.testing import FakeUpstream, ServedProxy, served_proxy
from optillm_moa import plugin as moa_plugin

BIASES = {"z3": 6.0, "moa": 4.0, "bon": 2.0}
QUESTION = "Summarize this article in three sentences please."


@pytest.fixture
async def served() -> AsyncIterator[ServedProxy]:
    fake = FakeUpstream("A short summary.", latency=0.02)
    model = build_classifier(BIASES)
    plugins = [moa_plugin, bon_plugin]
    async with served_proxy(fake, plugins, app_factory=router_app, model_path=model) as proxy:
        yield proxy


@pytest.mark.anyio
async def test_router_over_http(served: ServedProxy) -> None:
    fake, client = served.fake, served.client
    raw = await client.chat.completions.with_raw_response.create(
        model="router-fake-model",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=300,
        extra_body={"candidates": 2},
    )
    headers = raw.http_response.headers
    assert headers["x-optillm-routed"] == f"moa;p={probability(BIASES, 'moa')}"  # z3 missing
    assert headers["x-optillm-approach"] == "router"
    assert headers["x-optillm-upstream-calls"] == "3"
    response = raw.parse()
    assert response.model == "fake-model"
    assert response.choices[0].message.content == "A short summary."
    assert response.usage.total_tokens == fake.prompt_tokens_served + fake.completion_tokens_served
    assert fake.dependent_rounds() == 3  # moa: drafts, critique, final
    assert fake.bodies[0]["n"] == 2
    assert all(body["model"] == "fake-model" for body in fake.bodies)
    assert all(body.get("max_tokens") == 300 for body in (fake.bodies[0], fake.bodies[2]))
    assert all("candidates" not in body for body in fake.bodies)


@pytest.mark.anyio
async def test_router_streams_over_http(served: ServedProxy) -> None:
    async with served.client.chat.completions.with_streaming_response.create(
        model="router-fake-model",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
    ) as response:
        assert response.http_response.headers["x-optillm-routed"].startswith("moa;p=")
        text = "".join(
            [c.choices[0].delta.content or "" async for c in await response.parse() if c.choices]
        )
    assert text == "A short summary."
