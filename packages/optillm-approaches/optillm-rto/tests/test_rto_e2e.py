"""End to end over real HTTP: the openai client → the proxy on loopback → a fake upstream on
loopback."""

from __future__ import annotations

import openai
import pytest

from optillm_core.testing import FakeUpstream, make_app, serve_app
from optillm_rto import plugin


@pytest.mark.anyio
async def test_rto_over_http() -> None:
    fake = FakeUpstream()
    fake.enqueue("```python\nx = 1\n```", "Set x to 1.", "```python\nx = 2\n```", "x = 1 # final")
    async with fake.serve() as upstream_url:
        app = make_app(fake, [plugin], base_url=upstream_url)
        async with (
            serve_app(app) as url,
            openai.AsyncOpenAI(base_url=url, api_key="k", max_retries=0) as client,
        ):
            response = await client.chat.completions.create(
                model="rto-fake-model", messages=[{"role": "user", "content": "Set x to 1."}]
            )
    assert response.choices[0].message.content == "x = 1 # final"
    assert fake.call_count == 4
    assert response.usage is not None
    assert response.usage.total_tokens == (
        fake.prompt_tokens_served + fake.completion_tokens_served
    )
