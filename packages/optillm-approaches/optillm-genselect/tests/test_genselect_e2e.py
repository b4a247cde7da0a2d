"""End to end: the real ``openai`` client → the proxy on a loopback port → FakeUpstream over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, make_app, serve_app
from optillm_genselect import plugin
from optillm_genselect.selection import SELECTOR_INSTRUCTIONS

QUESTION = "What is 6 times 7?"


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeUpstream, openai.AsyncOpenAI]]:
    fake = FakeUpstream()
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
        ("genselect-fake-model", QUESTION, {}),
        ("fake-model", QUESTION, {"optillm_approach": "genselect"}),
        ("fake-model", f"<optillm_approach>genselect</optillm_approach> {QUESTION}", {}),
    ],
    ids=["model-prefix", "extra-body", "message-tag"],
)
async def test_selection_over_http(
    served: tuple[FakeUpstream, openai.AsyncOpenAI],
    model: str,
    content: str,
    extra_body: dict[str, Any],
) -> None:
    fake, client = served
    fake.enqueue("It is 41.", "6 x 7 = 42", "It is 43.", "BEST CANDIDATE: 2")
    response = await client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": content}],
        extra_body={"num_candidates": 3, **extra_body},
    )
    completion = response.parse()
    assert completion.choices[0].message.content == "6 x 7 = 42"
    assert response.headers["x-optillm-approach"] == "genselect"
    assert response.headers["x-optillm-upstream-calls"] == "2"
    generation, selection = fake.bodies
    assert generation["model"] == selection["model"] == "fake-model"
    assert generation["messages"][-1]["content"].strip() == QUESTION
    assert "num_candidates" not in generation
    assert selection["messages"][0]["content"].startswith(SELECTOR_INSTRUCTIONS)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == fake.prompt_tokens_served
    assert completion.usage.completion_tokens == fake.completion_tokens_served
