"""The prompt-building helpers approaches share: follow-up turns, text blocks inside prompts,
and which candidate replies are worth keeping."""

from __future__ import annotations

from optillm_core import Choice
from optillm_core.prompting import (
    continued,
    fenced,
    instructed,
    is_complete,
    numbered,
    usable_choices,
)


def test_instructed_puts_the_instructions_before_the_clients_system_prompt() -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "tool", "content": "result", "tool_call_id": "t"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "more"},
    ]
    assert instructed(messages, "Write code.") == [
        {"role": "system", "content": "Write code.\n\nBe brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "more"},
    ]
    assert instructed([{"role": "user", "content": "hi"}]) == [{"role": "user", "content": "hi"}]


def test_continued_adds_the_reply_and_the_follow_up() -> None:
    turns = [{"role": "user", "content": "q"}]
    assert continued(turns, "a", "again?") == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "again?"},
    ]
    assert turns == [{"role": "user", "content": "q"}]  # not modified


def test_fenced_uses_a_fence_nothing_inside_can_close() -> None:
    assert fenced("x = 1", "python") == "```python\nx = 1\n```"
    assert fenced("a ``` b ```` c") == "`````text\na ``` b ```` c\n`````"


def test_numbered() -> None:
    assert numbered(["one", "two"]) == "1. one\n2. two"
    assert numbered([]) == ""


def test_usable_choices_prefer_complete_replies() -> None:
    cut, empty, good = Choice("cut", "length"), Choice("  ", "stop"), Choice("ok", "stop")
    assert [is_complete(c) for c in (cut, empty, good)] == [False, False, True]
    assert usable_choices([cut, empty, good]) == [good]
    assert usable_choices([cut, empty]) == [cut]  # none complete: the non-empty ones
    assert usable_choices([empty]) == []
