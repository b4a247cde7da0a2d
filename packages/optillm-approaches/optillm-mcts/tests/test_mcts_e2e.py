"""End to end: the real ``openai`` client → the proxy on a loopback port → the fake upstream
over HTTP, with ``mcts`` selected by model prefix."""

from __future__ import annotations

from typing import Any

import pytest

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_mcts import plugin
from optillm_mcts.dialogue import EVALUATOR_PROMPT, USER_SIMULATOR_PROMPT


def model(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    if system == USER_SIMULATOR_PROMPT:
        return "Could you say more?"
    if system == EVALUATOR_PROMPT:
        return "0.9" if "Paris" in body["messages"][-1]["content"] else "0.2"
    return "Paris is the capital of France." if body.get("n") else "A follow-up answer."


@pytest.mark.anyio
async def test_mcts_over_real_http() -> None:
    fake = FakeUpstream(model)
    async with served_proxy(fake, [plugin]) as proxy:
        raw = await proxy.client.chat.completions.with_raw_response.create(
            model="mcts-fake-model",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            extra_body={"seed": 1},
        )
    response = raw.parse()
    assert response.choices[0].message.content == "Paris is the capital of France."
    assert response.choices[0].finish_reason == "stop"
    assert fake.call_count == 14
    assert raw.headers["x-optillm-upstream-calls"] == "14"
    assert response.usage.total_tokens == (
        fake.prompt_tokens_served + fake.completion_tokens_served
    )
    assert raw.headers["x-optillm-approach"] == "mcts"
    assert all(body["model"] == "fake-model" for body in fake.bodies)
    assert all("seed" not in body for body in fake.bodies)
