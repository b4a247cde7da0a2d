"""End to end over real HTTP: openai client → proxy on loopback → fake upstream on loopback."""

from __future__ import annotations

import pytest
from executecode_helpers import code_reply

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_executecode import plugin


@pytest.mark.anyio
async def test_executecode_over_http_streaming() -> None:
    fake = FakeUpstream()
    fake.enqueue(code_reply("import math\nprint(math.comb(10, 3))"), "There are 120 ways.")
    async with served_proxy(fake, [plugin]) as proxy:
        stream = await proxy.client.chat.completions.create(
            model="executecode-fake-model",
            messages=[{"role": "user", "content": "How many ways to pick 3 of 10?"}],
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "There are 120 ways."
    assert fake.call_count == 2
    assert "120" in fake.bodies[1]["messages"][-1]["content"]  # the program's output
    assert fake.bodies[1]["stream"] is True
