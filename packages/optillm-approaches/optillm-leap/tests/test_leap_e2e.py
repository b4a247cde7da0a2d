"""End to end over real HTTP: the openai client → the proxy on loopback → a fake upstream on
loopback."""

from __future__ import annotations

import pytest

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_leap import plugin


@pytest.mark.anyio
async def test_leap_over_http() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        '<output>[{"question": "1 + 1", "answer": "2"}]</output>',
        "1 + 1 is 3. <output>3</output>",
        "Added wrongly. <output>Count carefully.</output>",
        "<output>1. Count carefully.</output>",
        "4",
    )
    async with served_proxy(fake, [plugin]) as proxy:
        response = await proxy.client.chat.completions.create(
            model="leap-fake-model",
            messages=[{"role": "user", "content": "Q: 1 + 1\nA: 2\nQ: 2 + 2\nA:"}],
        )
    assert response.choices[0].message.content == "4"
    assert fake.call_count == 5
    assert "1. Count carefully." in fake.bodies[-1]["messages"][0]["content"]
    assert response.usage is not None
    assert response.usage.prompt_tokens == fake.prompt_tokens_served
