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
from optillm_genselect import plugin
from optillm_genselect.selection import SELECTOR_INSTRUCTIONS

QUESTION = "What is 6 times 7?"


@pytest.fixture
async def served() -> AsyncIterator[ServedProxy]:
    async with served_proxy(FakeUpstream(), [plugin]) as proxy:
        yield proxy


@pytest.mark.anyio
@pytest.mark.parametrize("way", SELECTION_WAYS)
async def test_selection_over_http(served: ServedProxy, way: SelectionWay) -> None:
    fake, client = served.fake, served.client
    fake.enqueue("It is 41.", "6 x 7 = 42", "It is 43.", "BEST CANDIDATE: 2")
    response = await client.chat.completions.with_raw_response.create(
        **selection_kwargs(
            "genselect",
            way,
            [{"role": "user", "content": QUESTION}],
            extra_body={"num_candidates": 3},
        )
    )
    completion = response.parse()
    assert completion.choices[0].message.content == "6 x 7 = 42"
    assert response.headers["x-optillm-approach"] == "genselect"
    assert response.headers["x-optillm-upstream-calls"] == "2"
    generation, selection = fake.bodies
    assert generation["model"] == selection["model"] == "fake-model"
    assert generation["messages"][-1]["content"].strip() == QUESTION
    assert "num_candidates" not in generation
    assert selection["messages"][0]["content"].startswith(SELECTOR_INSTRUCTIONS)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == fake.prompt_tokens_served
    assert completion.usage.completion_tokens == fake.completion_tokens_served
