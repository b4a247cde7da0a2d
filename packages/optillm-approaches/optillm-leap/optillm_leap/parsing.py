"""Reading LEAP's structured replies: the ``<output>`` section, a JSON array of examples, and
a list of principles. Every parser is tolerant of the usual deviations (missing closing tag,
code fences, prose around the JSON, numbered or bulleted lists) and says clearly when nothing
usable was found, so the caller can take its documented fallback."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from optillm_core.answers import answers_equal

_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.S)
_MARKER = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.):]|\(\d{1,2}\))\s+")
_QUESTION_KEYS = ("question", "input", "problem", "q")
_ANSWER_KEYS = ("answer", "output", "solution", "a")


@dataclass(frozen=True)
class Example:
    """One few-shot example found in the request: a question and its given answer."""

    question: str
    answer: str


def tag_content(text: str, tag: str = "output") -> str | None:
    """The stripped text inside the first ``<tag>`` (to the end when unterminated), or
    ``None`` when the tag does not occur."""
    start = text.find(f"<{tag}>")
    if start < 0:
        return None
    rest = text[start + len(tag) + 2 :]
    end = rest.find(f"</{tag}>")
    return (rest if end < 0 else rest[:end]).strip()


def _load_json(text: str) -> Any:
    """The JSON value in ``text``: the whole text, a fenced block, or the outermost ``[...]``
    or ``{...}``; raises ``ValueError`` when there is none."""
    candidates = [text.strip()]
    fenced = _FENCE.search(text)
    if fenced:
        candidates.append(fenced.group(1).strip())
    for opener, closer in (("[", "]"), ("{", "}")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("no JSON value found")


def _field(item: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    lowered = {str(k).strip().lower(): v for k, v in item.items()}
    for key in keys:
        value = lowered.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value).strip()
            if text:
                return text
    return None


def parse_examples(text: str) -> list[Example] | None:
    """The examples of an extraction reply; ``[]`` when it says there are none, ``None`` when
    the reply cannot be read (no JSON array of objects in it).

    Accepted: a JSON array of ``{"question", "answer"}`` objects (``input``/``output`` and
    similar keys too), inside ``<output>`` or not, fenced or not, with prose around it; an
    object holding such an array under ``examples``; a single example object. Items without
    both a question and an answer are skipped.
    """
    body = tag_content(text)
    try:
        data = _load_json(body if body is not None else text)
    except ValueError:
        return None
    if isinstance(data, dict):
        inner = data.get("examples")
        data = inner if isinstance(inner, list) else [data]
    if not isinstance(data, list):
        return None
    examples = []
    for item in data:
        if not isinstance(item, dict):
            continue
        question, answer = _field(item, _QUESTION_KEYS), _field(item, _ANSWER_KEYS)
        if question and answer:
            examples.append(Example(question, answer))
    return examples


def parse_list(text: str) -> list[str]:
    """The items of a list reply (inside ``<output>`` when present): one per line, numbering
    and bullets removed, blank lines and repeats dropped."""
    body = tag_content(text)
    items: list[str] = []
    seen: set[str] = set()
    for line in (body if body is not None else text).splitlines():
        item = _MARKER.sub("", line).strip()
        key = item.lower()
        if item and key not in seen:
            seen.add(key)
            items.append(item)
    return items


def same_answer(got: str, expected: str) -> bool:
    """Whether a model's final answer matches an example's answer (numerically, or as text
    ignoring case, spacing and trailing punctuation)."""
    return answers_equal(got, expected, "math") or answers_equal(got, expected, "exact")
