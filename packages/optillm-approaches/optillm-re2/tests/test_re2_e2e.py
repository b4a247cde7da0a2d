"""End to end over real HTTP: the openai client → the proxy on loopback → a fake upstream on
loopback."""

from __future__ import annotations

import openai
import pytest

from optillm_core.testing import FakeUpstream, make_app, serve_app
from optillm_re2 import plugin


@pytest.mark.anyio
async def test_re2_over_http() -> None:
    fake = FakeUpstream()
    fake.enqueue("3", "three")
    async with fake.serve() as upstream_url:
        app = make_app(fake, [plugin], base_url=upstream_url)
        async with (
            serve_app(app) as url,
            openai.AsyncOpenAI(base_url=url, api_key="k", max_retries=0) as client,
        ):
            response = await client.chat.completions.create(
                model="re2-fake-model",
                messages=[{"role": "user", "content": "How many r's in strawberry?"}],
                n=2,
            )
    assert [c.message.content for c in response.choices] == ["3", "three"]
    assert fake.call_count == 1
    assert "Read the question again: How many r's in strawberry?" in str(fake.bodies[0])
    assert response.usage is not None
    assert response.usage.completion_tokens == fake.completion_tokens_served
