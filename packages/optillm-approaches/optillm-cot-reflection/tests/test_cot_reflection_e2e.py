"""End to end over real HTTP: the openai client → the proxy on loopback → a fake upstream on
loopback."""

from __future__ import annotations

import pytest

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_cot_reflection import plugin


@pytest.mark.anyio
async def test_cot_reflection_over_http() -> None:
    fake = FakeUpstream("<thinking>2+2=4<reflection>fine</reflection></thinking><output>4</output>")
    async with served_proxy(fake, [plugin]) as proxy:
        response = await proxy.client.chat.completions.create(
            model="cot_reflection-fake-model",
            messages=[{"role": "user", "content": "What is 2+2?"}],
        )
        served = (fake.prompt_tokens_served, fake.completion_tokens_served)
        stream = await proxy.client.chat.completions.create(
            model="cot_reflection-fake-model",
            messages=[{"role": "user", "content": "What is 2+2?"}],
            stream=True,
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert response.choices[0].message.content == "4"
    assert streamed == "4"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == served
    assert fake.call_count == 2
