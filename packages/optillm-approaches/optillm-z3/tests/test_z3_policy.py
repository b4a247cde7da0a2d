"""z3 runs code (the solver) only when selected explicitly, or by tag where allowed."""

from __future__ import annotations

import openai
import pytest
from z3_helpers import SMT_OK, analysis, run_z3

from optillm_core.testing import FakeUpstream, make_app, openai_client
from optillm_z3 import plugin

TAGGED = "<optillm_approach>z3</optillm_approach> Two numbers add to 10 and differ by 2."


@pytest.mark.anyio
async def test_selection_by_tag_is_refused_by_default() -> None:
    fake = FakeUpstream(analysis(SMT_OK))
    async with openai_client(make_app(fake, [plugin])) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": TAGGED}]
            )
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "code_execution_not_allowed"
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_selection_by_tag_works_when_allowed() -> None:
    fake = FakeUpstream()
    fake.enqueue(analysis(SMT_OK), "6 and 4.")
    text, runs = await run_z3(
        fake, question=TAGGED, allow_code_by_tag=True, body={"optillm_approach": None}
    )
    assert text == "6 and 4."
    assert [r.status for r in runs] == ["ok"]
