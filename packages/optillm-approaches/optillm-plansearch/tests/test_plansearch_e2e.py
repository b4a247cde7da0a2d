"""End to end over real HTTP: the openai client → the proxy on loopback → a fake upstream on
loopback."""

from __future__ import annotations

import pytest

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_plansearch import plugin


@pytest.mark.anyio
async def test_plansearch_over_http() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        "1. Sum fits in int.", "1. Read all input.", "Plan: add them.", "```python\nprint(1)\n```"
    )
    async with served_proxy(fake, [plugin]) as proxy:
        response = await proxy.client.chat.completions.create(
            model="plansearch-fake-model",
            messages=[{"role": "user", "content": "Print the sum of the input numbers."}],
        )
    assert response.choices[0].message.content == "```python\nprint(1)\n```"
    assert fake.call_count == 4
    assert response.usage is not None
    assert response.usage.completion_tokens == fake.completion_tokens_served
