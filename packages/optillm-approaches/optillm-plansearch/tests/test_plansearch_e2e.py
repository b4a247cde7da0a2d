"""End to end over real HTTP: the openai client → the proxy on loopback → a fake upstream on
loopback."""

from __future__ import annotations

import openai
import pytest

from optillm_core.testing import FakeUpstream, make_app, serve_app
from optillm_plansearch import plugin


@pytest.mark.anyio
async def test_plansearch_over_http() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        "1. Sum fits in int.", "1. Read all input.", "Plan: add them.", "```python\nprint(1)\n```"
    )
    async with fake.serve() as upstream_url:
        app = make_app(fake, [plugin], base_url=upstream_url)
        async with (
            serve_app(app) as url,
            openai.AsyncOpenAI(base_url=url, api_key="k", max_retries=0) as client,
        ):
            response = await client.chat.completions.create(
                model="plansearch-fake-model",
                messages=[{"role": "user", "content": "Print the sum of the input numbers."}],
            )
    assert response.choices[0].message.content == "```python\nprint(1)\n```"
    assert fake.call_count == 4
    assert response.usage is not None
    assert response.usage.completion_tokens == fake.completion_tokens_served
