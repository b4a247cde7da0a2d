"""End to end over real HTTP: openai client → proxy on loopback → fake upstream on loopback,
Z3 solving in the sandbox."""

from __future__ import annotations

import pytest
from z3_helpers import QUESTION, SMT_OK, analysis

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_z3 import plugin


@pytest.mark.anyio
async def test_z3_over_http_by_model_prefix() -> None:
    fake = FakeUpstream()
    fake.enqueue(analysis(SMT_OK + "\n(maximize x)"), "6 and 4.")
    async with served_proxy(fake, [plugin]) as proxy:
        response = await proxy.client.chat.completions.create(
            model="z3-fake-model", messages=[{"role": "user", "content": QUESTION}]
        )
    assert response.choices[0].message.content == "6 and 4."
    assert [body["model"] for body in fake.bodies] == ["fake-model", "fake-model"]
    assert "x = 6" in fake.bodies[1]["messages"][-1]["content"]  # solved with Optimize
    assert response.usage is not None
    assert response.usage.prompt_tokens == fake.prompt_tokens_served
