"""Evaluation items: one question, its expected answer and how replies to it are checked.

An item's ``kind`` names its checker: the answer kinds of :mod:`optillm_core.answers`
(``math``, ``mcq``, ``exact``, ``general``, ``contains``) plus ``code`` (test cases run in the
sandbox). ``auto`` is resolved when the item is built, see :func:`infer_kind`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optillm_core.answers import KINDS, parse_number

from .errors import DatasetError

CODE = "code"
AUTO = "auto"
ITEM_KINDS: frozenset[str] = KINDS | {CODE}
"""Every checker an item may name (``auto`` is accepted as input and resolved)."""

LETTERS = "ABCDEFGHIJ"
_LETTER_RE = re.compile(r"^\(?([A-Ja-j])\)?$")
_LATEX_HINT_RE = re.compile(r"\\[A-Za-z]|\^|_\{|^[(\[{].*,.*[)\]}]$")


@dataclass(frozen=True)
class CodeCase:
    """One stdin/stdout test of a ``code`` item: feed ``input``, expect ``output``."""

    input: str
    output: str


@dataclass(frozen=True)
class Item:
    """One evaluation item.

    ``answer`` is the expected answer as written (empty for ``code`` items, which are judged
    by ``tests``: Python source run after the program, or stdin/stdout cases). ``choices``
    are the options of an ``mcq`` item, shown to the model as ``A.``, ``B.``, …
    """

    id: str
    question: str
    answer: str
    kind: str
    choices: tuple[str, ...] = ()
    tests: str | tuple[CodeCase, ...] = ""
    system: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def fingerprint(self) -> str:
        """A short hash of what is asked and expected; a stored result is reused only while
        the item it was recorded for still has the same fingerprint."""
        payload = json.dumps(
            [self.question, self.answer, self.kind, list(self.choices), _tests_json(self.tests)],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _tests_json(tests: str | tuple[CodeCase, ...]) -> Any:
    if isinstance(tests, str):
        return tests
    return [[case.input, case.output] for case in tests]


def infer_kind(answer: str, *, choices: Sequence[str] = (), has_tests: bool = False) -> str:
    """The checker for an item that names none.

    ``code`` when the item has tests and no answer; ``mcq`` when it has choices or the answer
    is one letter ``A``-``J`` (optionally in parentheses); ``math`` when the answer is a number
    (``42``, ``-0.5``, ``3/4``, ``1,000``) or looks like LaTeX (a backslash command, ``^``, a
    tuple); else ``exact``.
    """
    text = answer.strip()
    if has_tests and not text:
        return CODE
    if choices or _LETTER_RE.match(text):
        return "mcq"
    if parse_number(text) is not None or _LATEX_HINT_RE.search(text):
        return "math"
    return "exact"


def parse_tests(raw: Any) -> str | tuple[CodeCase, ...]:
    """Read a ``tests`` field: Python source (str), or a list of ``{"input", "output"}``.

    A string holding a JSON list (as in a CSV cell) is decoded first.
    """
    if raw is None or raw == "":
        return ""
    if isinstance(raw, str):
        source: str = raw
        if not source.lstrip().startswith("["):
            return source
        try:
            raw = json.loads(source)
        except ValueError:
            return source  # Python source that happens to start with a bracket
    if not isinstance(raw, list):
        raise DatasetError(f"'tests' must be Python source or a list of cases, not {raw!r:.80}")
    cases = []
    for case in raw:
        if not isinstance(case, Mapping) or "output" not in case:
            raise DatasetError(f"each test case needs 'input' and 'output': {case!r:.80}")
        cases.append(CodeCase(str(case.get("input") or ""), str(case["output"])))
    return tuple(cases)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _choices(raw: Any) -> tuple[str, ...]:
    if raw in (None, ""):
        return ()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise DatasetError(
                f"'choices' must be a list (JSON in CSV cells): {raw!r:.80}"
            ) from exc
    if not isinstance(raw, list) or not 2 <= len(raw) <= len(LETTERS):
        raise DatasetError(f"'choices' must be a list of 2 to {len(LETTERS)} options")
    return tuple(_as_text(c) for c in raw)


def make_item(row: Mapping[str, Any], *, default_kind: str = AUTO, fallback_id: str) -> Item:
    """Build an :class:`Item` from a dataset row (``question``, ``answer``, optional ``type``,
    ``id``, ``choices``, ``tests``, ``system``; other fields are kept as metadata).

    Raises:
        DatasetError: a required field is missing or a field is malformed.
    """
    question = _as_text(row.get("question"))
    if not question:
        raise DatasetError("missing 'question'")
    answer = _as_text(row.get("answer"))
    choices = _choices(row.get("choices"))
    tests = parse_tests(row.get("tests"))
    kind = _as_text(row.get("type")).lower() or default_kind
    if kind == AUTO:
        kind = infer_kind(answer, choices=choices, has_tests=bool(tests))
    if kind not in ITEM_KINDS:
        raise DatasetError(f"unknown type {kind!r}; expected one of {sorted(ITEM_KINDS)}")
    if kind == CODE and not tests:
        raise DatasetError("a 'code' item needs 'tests'")
    if kind != CODE and not answer:
        raise DatasetError("missing 'answer'")
    known = {"id", "question", "answer", "type", "choices", "tests", "system"}
    return Item(
        id=_as_text(row.get("id")) or fallback_id,
        question=question,
        answer=answer,
        kind=kind,
        choices=choices,
        tests=tests,
        system=_as_text(row.get("system")),
        metadata={k: v for k, v in row.items() if k not in known},
    )


def item_to_row(item: Item) -> dict[str, Any]:
    """The JSONL row that :func:`make_item` reads back into ``item``."""
    row: dict[str, Any] = {"id": item.id, "question": item.question, "answer": item.answer}
    row["type"] = item.kind
    if item.choices:
        row["choices"] = list(item.choices)
    if item.tests:
        tests = item.tests
        row["tests"] = (
            tests
            if isinstance(tests, str)
            else [{"input": c.input, "output": c.output} for c in tests]
        )
    if item.system:
        row["system"] = item.system
    return {**row, **item.metadata}
