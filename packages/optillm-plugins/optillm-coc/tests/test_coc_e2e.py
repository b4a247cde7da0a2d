"""End to end over real HTTP: openai client → proxy on loopback → fake upstream on loopback,
with the program really run in the sandbox."""

from __future__ import annotations

import pytest
from coc_helpers import program_reply

from optillm_coc import plugin
from optillm_core.testing import FakeUpstream, served_proxy


@pytest.mark.anyio
async def test_coc_over_http_by_model_prefix() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        program_reply(
            "import fractions\nanswer = fractions.Fraction(1, 3) + fractions.Fraction(1, 6)"
        )
    )
    async with served_proxy(fake, [plugin]) as proxy:
        response = await proxy.client.chat.completions.with_raw_response.create(
            model="coc-fake-model",
            messages=[{"role": "user", "content": "What is 1/3 + 1/6?"}],
        )
    completion = response.parse()
    assert completion.choices[0].message.content is not None
    assert completion.choices[0].message.content.startswith("1/2\n\nExplanation:")
    assert response.headers["x-optillm-approach"] == "coc"
    assert fake.bodies[0]["model"] == "fake-model"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == fake.completion_tokens_served
