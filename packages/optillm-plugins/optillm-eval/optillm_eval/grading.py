"""Checking a reply against an item: the answer kinds of ``optillm_core.answers``, and code.

Extraction and equivalence are never re-implemented here: ``math``/``mcq``/``exact``/``general``
replies go through :func:`optillm_core.answers.extract_answer` and
:func:`~optillm_core.answers.answers_equal`; ``contains`` asks whether the expected answer occurs
in the whole reply. ``code`` replies are run in :class:`optillm_core.sandbox.Sandbox` against the
item's tests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from optillm_core import gather
from optillm_core.answers import answers_equal, extract_answer
from optillm_core.codeexec import fenced_blocks
from optillm_core.sandbox import Sandbox, SandboxResult

from .items import CODE, CodeCase, Item

_DETAIL_CHARS = 300


@dataclass(frozen=True)
class Grade:
    """The verdict on one reply: correct or not, the answer read from it, and why."""

    correct: bool
    extracted: str | None
    detail: str = ""


def extract_code(text: str) -> str:
    """The program in a reply: the last ```python block, else the last block without a
    language, else the whole reply (text up to a ``</think>`` is ignored)."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1] or text
    blocks = fenced_blocks(text) or fenced_blocks(text, ("",))
    return blocks[-1] if blocks else text.strip()


def check_answer(item: Item, reply: str) -> Grade:
    """Check a non-code reply; ``contains`` looks for the expected answer in the whole reply."""
    if item.kind == "contains":
        ok = answers_equal(reply, item.answer, "contains")
        return Grade(ok, None, "" if ok else "expected text not found")
    extracted = extract_answer(reply, item.kind)
    if extracted is None:
        return Grade(False, None, "no answer found in the reply")
    return Grade(answers_equal(extracted, item.answer, item.kind), extracted)


def _same_output(actual: str, expected: str) -> bool:
    """Compare program output line by line, ignoring trailing spaces and trailing blank lines."""

    def lines(text: str) -> list[str]:
        return [line.rstrip() for line in text.rstrip().splitlines()]

    return lines(actual) == lines(expected)


def _failure(result: SandboxResult) -> str:
    if result.timed_out:
        return "timed out"
    tail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.exit_code}"]
    return tail[0][:_DETAIL_CHARS]


async def check_code(item: Item, reply: str, sandbox: Sandbox, *, time_limit: float) -> Grade:
    """Run the reply's program against the item's tests in the sandbox.

    Python-source tests run after the program in one process (pass: exit status 0). Each
    stdin/stdout case runs the program alone (pass: same output); all cases run concurrently
    and every one must pass.
    """
    program = extract_code(reply)
    if not program:
        return Grade(False, None, "no code found in the reply")
    if isinstance(item.tests, str):
        result = await sandbox.run(f"{program}\n\n{item.tests}\n", timeout=time_limit)
        return Grade(result.ok, None, "" if result.ok else _failure(result))
    cases: tuple[CodeCase, ...] = item.tests
    results = await gather(
        *(
            functools.partial(sandbox.run, program, timeout=time_limit, stdin=case.input)
            for case in cases
        )
    )
    failed = [
        (i, r)
        for i, (case, r) in enumerate(zip(cases, results, strict=True))
        if not (r.ok and _same_output(r.stdout, case.output))
    ]
    if not failed:
        return Grade(True, None, f"{len(cases)}/{len(cases)} cases passed")
    first, result = failed[0]
    why = _failure(result) if not result.ok else "wrong output"
    passed = len(cases) - len(failed)
    return Grade(False, None, f"{passed}/{len(cases)} cases passed; case {first + 1}: {why}")


async def grade(
    item: Item, reply: str, *, sandbox: Sandbox | None = None, code_timeout: float = 10.0
) -> Grade:
    """Check ``reply`` against ``item`` with the item's checker.

    Raises:
        ValueError: a ``code`` item is graded without a sandbox.
    """
    if item.kind != CODE:
        return check_answer(item, reply)
    if sandbox is None:
        raise ValueError("grading code items needs a Sandbox")
    return await check_code(item, reply, sandbox, time_limit=code_timeout)
