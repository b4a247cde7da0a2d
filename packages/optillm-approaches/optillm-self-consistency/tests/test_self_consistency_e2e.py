"""End to end: the real ``openai`` client -> the proxy on a loopback port -> FakeUpstream over
HTTP, selecting ``self_consistency`` by model prefix, by ``optillm_approach`` and by a tag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, make_app, serve_app
from optillm_self_consistency import plugin

QUESTION = "What is 6 times 7?"
SAMPLES = ["I think 41", "so the answer is 42", "42 is it: \\boxed{42}", "40", "It's 42."]


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeUpstream, openai.AsyncOpenAI]]:
    fake = FakeUpstream("unused", latency=0.02)
    async with fake.serve() as upstream_url:
        app = make_app(fake, [plugin], base_url=upstream_url)
        async with serve_app(app) as proxy_url:
            client = openai.AsyncOpenAI(base_url=proxy_url, api_key="k", max_retries=0)
            async with client:
                yield fake, client


SELECTIONS: dict[str, dict[str, Any]] = {
    "model prefix": {"model": "self_consistency-fake-model"},
    "body field": {"model": "fake-model", "extra_body": {"optillm_approach": "self_consistency"}},
    "system tag": {
        "model": "fake-model",
        "system": "<optillm_approach>self_consistency</optillm_approach> Show your work.",
    },
}


@pytest.mark.anyio
@pytest.mark.parametrize("selection", list(SELECTIONS))
async def test_self_consistency_over_http(
    served: tuple[FakeUpstream, openai.AsyncOpenAI], selection: str
) -> None:
    fake, client = served
    fake.enqueue(*SAMPLES)
    options = dict(SELECTIONS[selection])
    messages = [{"role": "user", "content": QUESTION}]
    system = options.pop("system", None)
    if system:
        messages.insert(0, {"role": "system", "content": system})
    raw = await client.chat.completions.with_raw_response.create(messages=messages, **options)
    response = raw.parse()
    assert raw.headers["x-optillm-approach"] == "self_consistency"
    assert response.choices[0].message.content == "so the answer is 42"
    assert fake.call_count == 1
    body = fake.bodies[0]
    assert body["model"] == "fake-model"
    assert body["n"] == 5
    assert "optillm_approach" not in body
    if system:
        assert body["messages"][0] == {"role": "system", "content": "Show your work."}
    assert response.usage.prompt_tokens == fake.prompt_tokens_served
    assert response.usage.completion_tokens == fake.completion_tokens_served
