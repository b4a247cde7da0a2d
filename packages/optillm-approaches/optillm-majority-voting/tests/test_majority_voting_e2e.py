"""End to end: the real ``openai`` client → the proxy on a loopback port → FakeUpstream over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, make_app, serve_app
from optillm_majority_voting import plugin

QUESTION = "What is 6 times 7?"


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeUpstream, openai.AsyncOpenAI]]:
    fake = FakeUpstream("The answer is 41.")
    async with fake.serve() as upstream_url:
        app = make_app(fake, [plugin], base_url=upstream_url)
        async with serve_app(app) as proxy_url:
            client = openai.AsyncOpenAI(base_url=proxy_url, api_key="k", max_retries=0)
            async with client:
                yield fake, client


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "content", "extra_body"),
    [
        ("majority_voting-fake-model", QUESTION, {}),
        ("fake-model", QUESTION, {"optillm_approach": "majority_voting"}),
        ("fake-model", f"<optillm_approach>majority_voting</optillm_approach> {QUESTION}", {}),
    ],
    ids=["model-prefix", "extra-body", "message-tag"],
)
async def test_majority_over_http(
    served: tuple[FakeUpstream, openai.AsyncOpenAI],
    model: str,
    content: str,
    extra_body: dict[str, Any],
) -> None:
    fake, client = served
    fake.enqueue("answer: 42", "6 times 7 is 42, so the answer is 42", "The answer is 42.")
    response = await client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": content}],
        extra_body={"k": 4, **extra_body},
    )
    completion = response.parse()
    assert completion.choices[0].message.content == "answer: 42"
    assert response.headers["x-optillm-approach"] == "majority_voting"
    assert fake.call_count == 1
    assert fake.bodies[0]["model"] == "fake-model"
    assert fake.bodies[0]["messages"][-1]["content"].strip() == QUESTION
    assert completion.usage is not None
    assert completion.usage.completion_tokens == fake.completion_tokens_served
