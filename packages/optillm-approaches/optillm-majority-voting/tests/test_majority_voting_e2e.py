"""End to end: the real ``openai`` client → the proxy on a loopback port → FakeUpstream over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from optillm_core.testing import (
    SELECTION_WAYS,
    FakeUpstream,
    SelectionWay,
    ServedProxy,
    selection_kwargs,
    served_proxy,
)
from optillm_majority_voting import plugin

QUESTION = "What is 6 times 7?"


@pytest.fixture
async def served() -> AsyncIterator[ServedProxy]:
    async with served_proxy(FakeUpstream("The answer is 41."), [plugin]) as proxy:
        yield proxy


@pytest.mark.anyio
@pytest.mark.parametrize("way", SELECTION_WAYS)
async def test_majority_over_http(served: ServedProxy, way: SelectionWay) -> None:
    fake, client = served.fake, served.client
    fake.enqueue("answer: 42", "6 times 7 is 42, so the answer is 42", "The answer is 42.")
    response = await client.chat.completions.with_raw_response.create(
        **selection_kwargs(
            "majority_voting", way, [{"role": "user", "content": QUESTION}], extra_body={"k": 4}
        )
    )
    completion = response.parse()
    assert completion.choices[0].message.content == "answer: 42"
    assert response.headers["x-optillm-approach"] == "majority_voting"
    assert fake.call_count == 1
    assert fake.bodies[0]["model"] == "fake-model"
    assert fake.bodies[0]["messages"][-1]["content"].strip() == QUESTION
    assert completion.usage is not None
    assert completion.usage.completion_tokens == fake.completion_tokens_served
