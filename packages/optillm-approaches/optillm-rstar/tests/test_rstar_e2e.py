"""End to end: the real ``openai`` client → the proxy on a loopback port → the fake upstream
over HTTP, with ``rstar`` selected by model prefix."""

from __future__ import annotations

from typing import Any

import pytest

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_rstar import plugin
from optillm_rstar.actions import COMPLETE, INSTRUCTIONS


def model(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if INSTRUCTIONS[COMPLETE] in prompt:
        return "Six groups of seven make 42. The final answer is \\boxed{42}."
    return "Multiply 6 by 7: 6 * 7 = 42. The final answer is \\boxed{42}."


@pytest.mark.anyio
async def test_rstar_over_real_http() -> None:
    fake = FakeUpstream(model)
    async with served_proxy(fake, [plugin]) as proxy:
        raw = await proxy.client.chat.completions.with_raw_response.create(
            model="rstar-fake-model",
            messages=[{"role": "user", "content": "What is 6 times 7?"}],
            extra_body={"seed": 3},
        )
        first_calls = fake.call_count
        stream = await proxy.client.chat.completions.create(
            model="rstar-fake-model",
            messages=[{"role": "user", "content": "What is 6 times 7?"}],
            extra_body={"seed": 3, "bare_answer": True},
            stream=True,
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    response = raw.parse()
    text = response.choices[0].message.content
    assert text.endswith("The final answer is \\boxed{42}.")
    assert "42" in text and len(text) > len("42")
    assert streamed == "42"
    assert response.usage.total_tokens > 0
    # Every step but the restatement concludes at once: 5 root steps, 1 step after the
    # restatement, 5 checks.
    assert raw.headers["x-optillm-upstream-calls"] == str(first_calls) == "11"
    assert fake.call_count == 2 * first_calls
    assert all(body["model"] == "fake-model" and "seed" not in body for body in fake.bodies)
