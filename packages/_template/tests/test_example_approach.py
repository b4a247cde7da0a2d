"""The template's tests: the contract in three lines, plus one behaviour test."""

from __future__ import annotations

import pytest

from optillm_core.testing import ApproachContract, FakeUpstream, make_app, openai_client
from optillm_example import plugin


class TestExampleEcho(ApproachContract):
    plugin = plugin
    slug = "example_echo"


@pytest.mark.anyio
async def test_prefix_reaches_the_system_prompt() -> None:
    fake = FakeUpstream("ok")
    async with openai_client(make_app(fake, [plugin])) as client:
        await client.chat.completions.create(
            model="example_echo-fake-model",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"prefix": "Be brief."},
        )
    assert fake.bodies[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "prefix" not in fake.bodies[0]
