"""Final-answer extraction and answer equivalence, shared by every approach that votes or scores.

Used by the voting approaches (``self_consistency``, ``majority_voting``: they cluster samples by
:func:`answer_key`), ``rstar`` (numeric answers via :func:`parse_number`), ``genselect``, the local
decoders and ``optillm eval``. Standard library only.

Answer kinds:

* ``math``: LaTeX-aware. Numbers are compared exactly (``"0.5"``, ``"1/2"``, ``"\\frac12"`` and
  ``"2/4"`` share one key) or with a relative tolerance; tuples and sets element-wise.
  Percent signs, degree marks, ``$`` and a small list of units are *stripped*, never converted:
  ``"50%"`` normalises to ``"50"``, not ``"0.5"``.
* ``mcq``: one choice letter ``A``-``J``.
* ``exact`` (alias ``general``): the ``answer:`` line or the last non-empty line, compared
  case-insensitively with whitespace and trailing punctuation normalised.
* ``contains``: the whole reply; :func:`answers_equal` asks whether the expected answer occurs
  in it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ._answer_math import (
    _boxed_contents,
    _clean_math,
    _math_keys_equal,
    _normalize_math,
    _parse_clean_number,
    _token_value,
    _unwrap_text,
)
from ._answer_patterns import (
    _ANSWER_IS_RE,
    _ANSWER_LINE_RE,
    _DEGREE_RE,
    _FILLER_RE,
    _FINAL_ANSWER_RE,
    _GENERAL_LEAD,
    _GENERAL_TRAIL,
    _GSM8K_RE,
    _LEADING_NUM_RE,
    _MATH_DELIMS_RE,
    _MCQ_ANSWER_RE,
    _MCQ_BOLD_RE,
    _MCQ_END_RE,
    _MCQ_LETTER_RE,
    _MCQ_LINE_RE,
    _MCQ_OPTION_RE,
    _MCQ_PREFIX_RE,
    _MINUS_RE,
    _NUM_TOKEN_RE,
    _SENTENCE_END_RE,
    _SPACE_RE,
    _THEREFORE_RE,
    _TRAILING_PUNCT,
    _UNIT_RE,
    _WORDY_RE,
)

__all__ = [
    "KINDS",
    "Extracted",
    "answer_key",
    "answers_equal",
    "extract_answer",
    "find_answer",
    "majority",
    "normalize_answer",
    "parse_number",
]

KINDS: frozenset[str] = frozenset({"math", "mcq", "exact", "general", "contains"})
"""Accepted values of every ``kind`` argument (``general`` is an alias of ``exact``)."""

# --- compiled patterns (the only module-level state) -------------------------------------------


@dataclass(frozen=True)
class Extracted:
    """An extracted answer and how it was found.

    ``source`` is one of ``"boxed"``, ``"phrase"`` (an "answer is"/"final answer"/``####``/
    "therefore ... =" pattern), ``"equation"`` (a trailing ``= X``), ``"last_number"``, or for
    other kinds ``"letter"``/``"line"``/``"text"``. ``rstar`` uses it as a confidence signal.
    """

    answer: str
    source: str


# --- public API ---------------------------------------------------------------------------------


def extract_answer(text: str, kind: str = "math", *, question: str | None = None) -> str | None:
    """Return the final answer stated in a model reply, or ``None`` when there is none.

    ``math``: the last complete ``\\boxed{...}``/``\\fbox{...}`` (nested braces allowed), else
    "final answer is/: X", "answer is/: X", ``#### X``, "therefore/thus/hence/so ... = X", a
    trailing ``= X`` on the last line, else the last number. With ``question``, the last-number
    fallback skips numbers whose value appears in the question. ``mcq``: the chosen letter
    ``A``-``J``.
    ``exact``/``general``: a boxed answer, the ``answer:`` line, "the answer is X", or the last
    non-empty line. ``contains``: the whole reply. Text up to the last ``</think>`` is ignored
    (unless nothing follows it). Wrappers
    (``$``, ``\\text{}``, bold), trailing punctuation and simple units are removed; numbers keep
    their written form (use :func:`normalize_answer` for a canonical key).

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    found = find_answer(text, kind, question=question)
    return None if found is None else found.answer


def find_answer(text: str, kind: str = "math", *, question: str | None = None) -> Extracted | None:
    """Like :func:`extract_answer`, but also report which rule found the answer."""
    kind = _check_kind(kind)
    body = _strip_think(_prep(text))
    if kind == "math":
        return _find_math(body, question)
    if kind == "mcq":
        return _find_mcq(body)
    if kind == "contains":
        stripped = body.strip()
        return Extracted(stripped, "text") if stripped else None
    return _find_general(body)


def normalize_answer(answer: str, kind: str = "math") -> str:
    """Return a canonical string for ``answer`` (an already-extracted answer).

    ``math``: LaTeX cleanup (``\\left``/``\\right``, spacing commands, ``\\dfrac``/``\\tfrac``
    to ``\\frac``, ``\\frac12`` to ``\\frac{1}{2}``, ``\\text{}``), ``$``, degree marks, ``%``
    and units stripped, thousands separators removed, a leading ``x =`` dropped, unicode minus
    read as ``-``. Exact numbers become ``"42"``, ``"-0.25"`` (terminating decimals) or ``"1/3"``
    (reduced fraction otherwise). Tuples/intervals keep their brackets; sets (``{1,2}``,
    ``\\{1,2\\}``, or a bare ``1, 2``) become a sorted, de-duplicated ``{...}``. Other
    expressions lose whitespace except between two letters or two digits. ``mcq``: the
    uppercase letter. ``exact``/``general``/``contains``: casefolded, whitespace collapsed,
    quotes, bold and trailing punctuation removed.

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    kind = _check_kind(kind)
    text = _prep(answer)
    if kind == "math":
        return _normalize_math(_clean_math(text))
    if kind == "mcq":
        return _normalize_mcq(text)
    text = _unwrap_text(text).lstrip(_GENERAL_LEAD).rstrip(_GENERAL_TRAIL)
    return _SPACE_RE.sub(" ", text).strip().casefold()


def answers_equal(a: str, b: str, kind: str = "math", *, rel_tol: float = 1e-6) -> bool:
    """Say whether two extracted answers are equivalent.

    ``math``: equal keys, or both numbers within ``rel_tol`` (relative to the larger magnitude), or
    tuples/intervals with the same brackets equal element-wise, or sets equal in any order.
    ``contains``: asymmetric; ``a`` is the reply, ``b`` the expected answer, and the normalised
    ``b`` must occur in the normalised ``a``. Other kinds compare :func:`normalize_answer` keys.

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    kind = _check_kind(kind)
    na, nb = normalize_answer(a, kind), normalize_answer(b, kind)
    if kind == "contains":
        return bool(nb) and nb in na
    if kind != "math":
        return na == nb
    return _math_keys_equal(na, nb, rel_tol)


def answer_key(text: str, kind: str = "math", *, question: str | None = None) -> str | None:
    """Return the voting key of a reply: ``normalize_answer(extract_answer(...))``.

    ``None`` when no answer is found or it normalises to an empty string.
    """
    answer = extract_answer(text, kind, question=question)
    if answer is None:
        return None
    return normalize_answer(answer, kind) or None


def majority(keys: Sequence[str | None]) -> tuple[str | None, int]:
    """Return the most common non-``None`` key and its count, ``(None, 0)`` when there is none.

    Ties go to the key that occurs *first* in ``keys``, so the result is deterministic.
    """
    counts: dict[str, int] = {}
    for key in keys:
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None, 0
    best = max(counts, key=lambda k: counts[k])  # max keeps the first of equal maxima
    return best, counts[best]


def parse_number(s: str) -> Fraction | None:
    """Parse a written number exactly, or return ``None`` when ``s`` is not a single number.

    Accepts integers, decimals, ``1e-3``, ``a/b``, ``\\frac{a}{b}`` (also ``\\dfrac``,
    ``\\frac12``), signs including the unicode minus, thousands separators, and the wrappers and
    units stripped by :func:`normalize_answer` (``"$1,000"`` is 1000, ``"50%"`` is 50).
    """
    return _parse_clean_number(_clean_math(_prep(s)))


# --- shared helpers -----------------------------------------------------------------------------


def _check_kind(kind: str) -> str:
    """Validate ``kind`` and fold ``general`` into ``exact``."""
    if kind not in KINDS:
        raise ValueError(f"unknown answer kind {kind!r}; expected one of {sorted(KINDS)}")
    return "exact" if kind == "general" else kind


def _prep(text: str) -> str:
    """Apply NFKC (superscript squares/cubes kept as powers), read unicode minus signs as ``-``."""
    text = text.replace("\u00b2", "^2").replace("\u00b3", "^3")
    return _MINUS_RE.sub("-", unicodedata.normalize("NFKC", text)).replace("\u2044", "/")


def _strip_think(text: str) -> str:
    """Keep only what follows the last ``</think>``, unless nothing follows it."""
    close = text.lower().rfind("</think>")
    if close < 0:
        return text
    after = text[close + len("</think>") :]
    return after if after.strip() else text


# --- math -----------------------------------------------------------------------------------------


def _find_math(text: str, question: str | None) -> Extracted | None:
    """Apply the math extraction rules in priority order."""
    answer: str | None
    for boxed in reversed(_boxed_contents(text)):
        if answer := _light_clean(boxed):
            return Extracted(answer, "boxed")
    for pattern in (_FINAL_ANSWER_RE, _ANSWER_IS_RE, _GSM8K_RE):
        answer = _after_last(pattern, text)
        if answer and not _WORDY_RE.search(answer):
            return Extracted(answer, "phrase")
    if answer := _therefore_value(text):
        return Extracted(answer, "phrase")
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and "=" in lines[-1] and (answer := _trim_tail(lines[-1].rsplit("=", 1)[1])):
        return Extracted(answer, "equation")
    if answer := _last_number(text, question):
        return Extracted(answer, "last_number")
    return None


def _after_last(pattern: re.Pattern[str], text: str) -> str | None:
    """Return the trimmed text following the last match of ``pattern`` on its line."""
    last = None
    for match in pattern.finditer(text):
        last = match
    if last is None:
        return None
    return _trim_tail(text[last.end() :].split("\n", 1)[0])


def _therefore_value(text: str) -> str | None:
    for line in reversed(text.splitlines()):
        for sentence in reversed(_SENTENCE_END_RE.split(line)):
            keyword = _THEREFORE_RE.search(sentence)
            if keyword and "=" in sentence[keyword.end() :]:
                return _trim_tail(sentence.rsplit("=", 1)[1])
    return None


def _trim_tail(tail: str) -> str | None:
    """Cut the answer out of the rest of a line that follows an answer phrase."""
    tail = tail.strip().lstrip("*: ").strip()
    boxed = _boxed_contents(tail)
    if boxed:
        return _light_clean(boxed[-1]) or None
    delimited = _MATH_DELIMS_RE.match(tail)
    if delimited:
        tail = delimited.group(2)
    else:
        end = _SENTENCE_END_RE.search(tail)
        tail = tail[: end.start()] if end else tail
    tail = _FILLER_RE.sub("", tail.strip())
    leading = _LEADING_NUM_RE.match(tail)
    if leading and _UNIT_RE.search(tail) is None:
        tail = leading.group(1)
    return _light_clean(tail) or None


def _light_clean(answer: str) -> str:
    """Remove wrappers, trailing punctuation, degrees, ``%`` and units; keep the written form."""
    text = _unwrap_text(answer).replace("\\$", "").replace("$", "").replace("**", "")
    text = _DEGREE_RE.sub("", text).replace("\\%", "").replace("%", "")
    text = text.strip().rstrip(_TRAILING_PUNCT)
    return _UNIT_RE.sub("", text).rstrip(_TRAILING_PUNCT).strip()


def _last_number(text: str, question: str | None) -> str | None:
    """Return the last number in ``text`` whose value does not appear in ``question``."""
    excluded = {_token_value(token) for token in _NUM_TOKEN_RE.findall(_prep(question or ""))}
    for token in reversed(_NUM_TOKEN_RE.findall(text)):
        value = _token_value(token)
        if value is not None and value not in excluded:
            return str(token)
    return None


# --- mcq and general ------------------------------------------------------------------------------


def _find_mcq(text: str) -> Extracted | None:
    """Find the chosen option letter."""
    for boxed in reversed(_boxed_contents(text)):
        letter = _MCQ_LETTER_RE.match(_light_clean(boxed))
        if letter:
            return Extracted(letter[1].upper(), "boxed")
    for pattern in (_MCQ_ANSWER_RE, _MCQ_OPTION_RE, _MCQ_BOLD_RE):
        matches = list(pattern.finditer(text))
        if matches:
            last = matches[-1]
            return Extracted(next(g for g in last.groups() if g).upper(), "letter")
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and (line := _MCQ_LINE_RE.match(lines[-1])):
        return Extracted(line[1], "line")
    end = _MCQ_END_RE.search(text)
    return Extracted(end[1], "letter") if end else None


def _normalize_mcq(text: str) -> str:
    """Reduce an mcq answer to its uppercase letter (or the cleaned text, uppercased)."""
    found = _find_mcq(text)
    if found is not None:
        return found.answer
    cleaned = _MCQ_PREFIX_RE.sub("", _light_clean(text))
    letter = _MCQ_LETTER_RE.match(cleaned)
    return letter[1].upper() if letter else cleaned.upper()


def _find_general(text: str) -> Extracted | None:
    """Find a free-form answer: boxed, ``answer:`` line, "the answer is", or the last line."""
    answer: str | None
    boxed = _boxed_contents(text)
    if boxed and (answer := _light_clean(boxed[-1])):
        return Extracted(answer, "boxed")
    lines = _ANSWER_LINE_RE.findall(text)
    if lines and (answer := _light_clean(lines[-1].strip())):
        return Extracted(answer, "line")
    if answer := _after_last(_ANSWER_IS_RE, text):
        return Extracted(answer, "phrase")
    rest = [line for line in text.splitlines() if line.strip()]
    if rest and (answer := _light_clean(rest[-1])):
        return Extracted(answer, "line")
    return None
