"""End to end over real HTTP: the openai client → the proxy on loopback → a fake upstream on
loopback."""

from __future__ import annotations

import pytest

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_re2 import plugin


@pytest.mark.anyio
async def test_re2_over_http() -> None:
    fake = FakeUpstream()
    fake.enqueue("3", "three")
    async with served_proxy(fake, [plugin]) as proxy:
        response = await proxy.client.chat.completions.create(
            model="re2-fake-model",
            messages=[{"role": "user", "content": "How many r's in strawberry?"}],
            n=2,
        )
    assert [c.message.content for c in response.choices] == ["3", "three"]
    assert fake.call_count == 1
    assert "Read the question again: How many r's in strawberry?" in str(fake.bodies[0])
    assert response.usage is not None
    assert response.usage.completion_tokens == fake.completion_tokens_served
