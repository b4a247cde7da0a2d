"""Who may make coc run code: explicit selection yes, a tag in message text only if allowed."""

from __future__ import annotations

import openai
import pytest
from coc_helpers import program_reply, run_coc

from optillm_coc import plugin
from optillm_core.testing import FakeUpstream, make_app, openai_client

TAGGED = "<optillm_approach>coc</optillm_approach> What is 1 + 2 + ... + 9?"


@pytest.mark.anyio
async def test_selection_by_tag_is_refused_by_default() -> None:
    fake = FakeUpstream(program_reply("answer = 45"))
    async with openai_client(make_app(fake, [plugin])) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": TAGGED}]
            )
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["code"] == "code_execution_not_allowed"
    assert "allow_code_by_tag" in error["message"]
    assert fake.call_count == 0  # refused before any upstream call or run


@pytest.mark.anyio
async def test_selection_by_tag_works_when_the_operator_allows_it() -> None:
    fake = FakeUpstream(program_reply("answer = 45"))
    text, runs = await run_coc(
        fake, question=TAGGED, allow_code_by_tag=True, body={"optillm_approach": None}
    )
    assert text.startswith("45\n\n")
    assert [r.status for r in runs] == ["ok"]
    assert "optillm_approach" not in str(fake.bodies[0]["messages"])  # the tag was stripped


@pytest.mark.anyio
async def test_a_bad_module_name_is_a_400() -> None:
    fake = FakeUpstream(program_reply("answer = 1"))
    async with openai_client(make_app(fake, [plugin])) as client:
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(
                model="coc-fake-model",
                messages=[{"role": "user", "content": "hi"}],
                extra_body={"modules": ["ctypes"]},
            )
    assert fake.call_count == 0
