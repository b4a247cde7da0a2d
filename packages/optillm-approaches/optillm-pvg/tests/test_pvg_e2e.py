"""End to end: the real ``openai`` client → the proxy on a loopback port → FakeUpstream over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from optillm_core.testing import (
    SELECTION_WAYS,
    FakeUpstream,
    SelectionWay,
    ServedProxy,
    selection_kwargs,
    served_proxy,
)
from optillm_pvg import plugin, prompts

QUESTION = "What is 6 times 7?"


def _reply(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    user = body["messages"][-1]["content"]
    if system == prompts.VERIFIER_INSTRUCTIONS:
        return "Score: 9\nExplanation: correct." if "= 42" in user else "Score: 2"
    if system == prompts.REWRITE_INSTRUCTIONS:
        return "Multiply 6 by 7."
    if system.endswith(prompts.ROLE_LINES["helpful"]):
        return "6 * 7 = 42"
    return "6 * 7 = 48"


@pytest.fixture
async def served() -> AsyncIterator[ServedProxy]:
    async with served_proxy(FakeUpstream(_reply), [plugin]) as proxy:
        yield proxy


@pytest.mark.anyio
@pytest.mark.parametrize("way", SELECTION_WAYS)
async def test_game_over_http(served: ServedProxy, way: SelectionWay) -> None:
    fake, client = served.fake, served.client
    response = await client.chat.completions.with_raw_response.create(
        **selection_kwargs("pvg", way, [{"role": "user", "content": QUESTION}])
    )
    completion = response.parse()
    assert completion.choices[0].message.content == "6 * 7 = 42"
    assert response.headers["x-optillm-approach"] == "pvg"
    assert response.headers["x-optillm-upstream-calls"] == "17"
    assert fake.call_count == 17
    assert {body["model"] for body in fake.bodies} == {"fake-model"}
    first_prover = fake.bodies[0]["messages"]
    assert first_prover[-1]["content"].strip() == QUESTION
    assert "optillm_approach" not in first_prover[-1]["content"]
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == fake.prompt_tokens_served
    assert completion.usage.completion_tokens == fake.completion_tokens_served
