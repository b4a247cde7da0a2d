"""End to end over real HTTP: the openai client → the proxy on loopback → a fake upstream on
loopback."""

from __future__ import annotations

import pytest

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_rto import plugin


@pytest.mark.anyio
async def test_rto_over_http() -> None:
    fake = FakeUpstream()
    fake.enqueue("```python\nx = 1\n```", "Set x to 1.", "```python\nx = 2\n```", "x = 1 # final")
    async with served_proxy(fake, [plugin]) as proxy:
        response = await proxy.client.chat.completions.create(
            model="rto-fake-model", messages=[{"role": "user", "content": "Set x to 1."}]
        )
    assert response.choices[0].message.content == "x = 1 # final"
    assert fake.call_count == 4
    assert response.usage is not None
    assert response.usage.total_tokens == (
        fake.prompt_tokens_served + fake.completion_tokens_served
    )
