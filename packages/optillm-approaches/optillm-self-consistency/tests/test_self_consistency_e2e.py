"""End to end: the real ``openai`` client -> the proxy on a loopback port -> FakeUpstream over
HTTP, selecting ``self_consistency`` by model prefix, by ``optillm_approach`` and by a tag."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from optillm_core.testing import (
    SELECTION_WAYS,
    FakeUpstream,
    SelectionWay,
    ServedProxy,
    selection_kwargs,
    served_proxy,
)
from optillm_self_consistency import plugin

QUESTION = "What is 6 times 7?"
SAMPLES = ["I think 41", "so the answer is 42", "42 is it: \\boxed{42}", "40", "It's 42."]


@pytest.fixture
async def served() -> AsyncIterator[ServedProxy]:
    async with served_proxy(FakeUpstream("unused", latency=0.02), [plugin]) as proxy:
        yield proxy


@pytest.mark.anyio
@pytest.mark.parametrize("way", SELECTION_WAYS)
async def test_self_consistency_over_http(served: ServedProxy, way: SelectionWay) -> None:
    fake, client = served.fake, served.client
    fake.enqueue(*SAMPLES)
    messages = [
        {"role": "system", "content": "Show your work."},
        {"role": "user", "content": QUESTION},
    ]
    options = selection_kwargs("self_consistency", way, messages)
    raw = await client.chat.completions.with_raw_response.create(**options)
    response = raw.parse()
    assert raw.headers["x-optillm-approach"] == "self_consistency"
    assert response.choices[0].message.content == "so the answer is 42"
    assert fake.call_count == 1
    body = fake.bodies[0]
    assert body["model"] == "fake-model"
    assert body["n"] == 5
    assert "optillm_approach" not in body
    assert body["messages"] == messages
    assert response.usage.prompt_tokens == fake.prompt_tokens_served
    assert response.usage.completion_tokens == fake.completion_tokens_served
