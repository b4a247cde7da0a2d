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

_MINUS_RE = re.compile("[\u2212\u2012\ufe63\uff0d]")
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BOXED_BARE_RE = re.compile(r"[ \t]*+([^\s$]+)")
_BRACE_RE = re.compile(r"\\?[{}]")
_BRACKET_RE = re.compile(r"[()\[\]{},]")
_NUM = r"(?:\d++(?:\.\d*+)?|\.\d++)"
_NUMBER_RE = re.compile(rf"[+-]?{_NUM}(?:e[+-]?\d{{1,3}})?", re.I)
_SLASH_RE = re.compile(rf"([+-]?{_NUM})/([+-]?{_NUM})")
_FRAC_RE = re.compile(rf"([+-]?)\\frac\{{([+-]?{_NUM})\}}\{{([+-]?{_NUM})\}}")
_NUM_TOKEN_RE = re.compile(
    r"(?:(?<![\w)\]}.])-)?(?<![\w.])"
    r"(?:\\frac\{\d+\}\{\d+\}|\d{1,3}(?:,\d{3}(?!\d))+(?:\.\d+)?|\d++(?:\.\d+)?(?:/\d+)?"
    r"|\.\d+)"
)
_LEADING_NUM_RE = re.compile(
    r"^(-?(?:\\frac\{\d+\}\{\d+\}|\d{1,3}(?:,\d{3})++(?!\d)(?:\.\d+)?|\d++(?:\.\d+)?"
    r"(?:/\d+)?))\s+[A-Za-z]"
)
_FINAL_ANSWER_RE = re.compile(r"final\s+answer[\s*]*+(?:is\b[\s*:]*+|[:=][\s*]*+)", re.I)
_ANSWER_IS_RE = re.compile(
    r"\banswer[\s*]*+(?:(?:is|would\s+be|will\s+be|should\s+be)\b[\s*:]*+|[:=][\s*]*+)", re.I
)
_GSM8K_RE = re.compile(r"####[ \t]*")
_THEREFORE_RE = re.compile(r"\b(?:therefore|thus|hence|so)\b", re.I)
_SENTENCE_END_RE = re.compile(r"[.;!?](?=\s|$)")
_FILLER_RE = re.compile(
    r"^(?:approximately|approx\.?|about|around|roughly|exactly|equal\s+to|given\s+by)\s+", re.I
)
_MATH_DELIMS_RE = re.compile(r"^\s*(\$\$|\$|\\\(|\\\[)(.*?)(\$\$|\$|\\\)|\\\])")
_TEXT_WRAP_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"
)
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right)(?![A-Za-z])|\\displaystyle")
_SPACING_RE = re.compile(r"\\[!,;:]|\\q?quad(?![A-Za-z])|~")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|°")
_UNIT_RE = re.compile(
    r"(?<=[\d}])\s*(?:(?:square|sq\.?|cubic)\s+)?"
    r"(?:dollars?|usd|cents?|cm|mm|km|kg|mg|ml|meters?|metres?|inch(?:es)?|feet|foot|ft|miles?"
    r"|mph|units?|degrees?|deg|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?"
    r"|years?|grams?|pounds?|lbs?|ounces?|oz|liters?|litres?|percent|points?)"
    r"(?:\^\{?\d\}?|[²³])?\.?\s*$",
    re.I,
)
_WORDY_RE = re.compile(r"^(?!.*[\d\\=^])(?:\W*\b[A-Za-z]{2,}\b){5}")
_TRAILING_PUNCT = " \t\n\r\f\v.,;:!?"
_GENERAL_LEAD = " \t\n\r\f\v*`\"'$"
_GENERAL_TRAIL = _GENERAL_LEAD + ".,;:!?"
_MAX_DEPTH = 16
_MAX_SET_FUZZY = 256
_ASSIGN_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_FRAC_SHORT_RE = re.compile(r"\\frac\s*(\d|\{[^{}]*\})\s*(\d|\{[^{}]*\})")
_SQRT_SHORT_RE = re.compile(r"\\sqrt\s*(\d)")
_POWER_BRACE_RE = re.compile(r"\^\{(\w)\}")
_SPACE_RE = re.compile(r"\s+")
_LONE_SPACE_RE = re.compile(  # a space survives only between two letters or two digits
    r"(?<![A-Za-z\d]) | (?![A-Za-z\d])|(?<![A-Za-z]) (?!\d)|(?<!\d) (?![A-Za-z])"
)
_MCQ_PREFIX_RE = re.compile(r"^(?:option|choice|answer|letter)\b[\s:]*", re.I)
_MCQ_LETTER_RE = re.compile(r"^[(\[]?([A-Ja-j])(?:[)\].:]|\s|$)")
_MCQ_ANSWER_RE = re.compile(
    r"(?i:\b(?:answer|choice)\b)[\s*_]*+(?i:is|would\s+be|:)?[\s*:_]*+"
    r"(?i:option|choice|letter)?[\s*:]*+"
    r"(?:[(\[]([A-Ja-j])[)\]]|\**([A-J])\b(?![\w'])(?!(?<=I)\s+[a-z]))"
)
_MCQ_OPTION_RE = re.compile(
    r"(?i:\bcorrect\s+(?:option|choice)\s+is)[\s*:]*+[(\[]?\**+([A-J])\b(?![\w'])"
    r"|(?i:\boption)\s+[(\[]?([A-J])[)\]]?\s+(?i:is\s+correct)"
)
_MCQ_BOLD_RE = re.compile(r"\*\*\s*\(?([A-J])\)?[.)]?\s*\*\*")
_MCQ_LINE_RE = re.compile(r"^[\s*(\[]*([A-J])[\s*)\].:]*$")
_MCQ_END_RE = re.compile(r"\(([A-J])\)[\s.!*]*$")
_ANSWER_LINE_RE = re.compile(
    r"^[ \t*#>-]*+(?:final[ \t]+)?answer[ \t*]*+:[ \t*]*+(.+)$", re.I | re.M
)


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


def _brace_pairs(text: str) -> dict[int, int]:
    """Map the index of every unescaped ``{`` to the index of its matching ``}``."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for match in _BRACE_RE.finditer(text):
        if match.group() == "{":
            stack.append(match.start())
        elif match.group() == "}" and stack:
            pairs[stack.pop()] = match.start()
    return pairs


def _boxed_contents(text: str) -> list[str]:
    """Return the contents of every complete ``\\boxed``/``\\fbox``, ordered by position."""
    found: list[str] = []
    pairs: dict[int, int] | None = None
    for match in _BOXED_RE.finditer(text):
        pos = match.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        body: str | None
        if pos < len(text) and text[pos] == "{":
            pairs = _brace_pairs(text) if pairs is None else pairs
            body = text[pos + 1 : pairs[pos]] if pos in pairs else None
        else:
            bare = _BOXED_BARE_RE.match(text, match.end())
            body = bare.group(1) if bare else None
        if body is not None and body.strip():
            found.append(body.strip())
    return found


def _unwrap_text(text: str) -> str:
    """Replace ``\\text{x}`` and similar wrappers by ``x`` (innermost first)."""
    for _ in range(4):
        new = _TEXT_WRAP_RE.sub(r"\1", text)
        if new == text:
            break
        text = new
    return text


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


def _token_value(token: str) -> Fraction | None:
    """Value of a scanned number token (``1,234``, ``-3/4``, ``\\frac{1}{2}``)."""
    return _parse_clean_number(token.replace(",", ""))


def _clean_math(text: str) -> str:
    """Strip LaTeX presentation, wrappers, units and separators from a math answer."""
    text = text.strip()
    boxed = _boxed_contents(text)
    if len(boxed) == 1 and _BOXED_RE.match(text) and text.endswith("}"):
        text = boxed[0]
    text = _unwrap_text(text).replace("\\$", "").replace("$", "")
    for delim in ("\\(", "\\)", "\\[", "\\]", "**", "`"):
        text = text.replace(delim, "")
    text = _LEFT_RIGHT_RE.sub("", text)
    text = _SPACING_RE.sub("", text).replace("\\ ", " ")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _DEGREE_RE.sub("", text).replace("\\%", "").replace("%", "")
    text = text.strip().rstrip(_TRAILING_PUNCT)
    text = _UNIT_RE.sub("", text).rstrip(_TRAILING_PUNCT)
    if text.count("=") == 1:
        text = _ASSIGN_RE.sub("", text)
    text = text.replace("{,}", ",").strip()
    if _THOUSANDS_RE.match(text):
        text = text.replace(",", "")
    text = _FRAC_SHORT_RE.sub(lambda m: f"\\frac{{{_unbrace(m[1])}}}{{{_unbrace(m[2])}}}", text)
    text = _SQRT_SHORT_RE.sub(r"\\sqrt{\1}", text)
    text = _POWER_BRACE_RE.sub(r"^\1", text)
    return _LONE_SPACE_RE.sub("", _SPACE_RE.sub(" ", text).strip())


def _unbrace(group: str) -> str:
    """Return ``group`` without one pair of surrounding braces."""
    return group[1:-1] if group.startswith("{") else group


def _parse_clean_number(text: str) -> Fraction | None:
    """Parse an already cleaned number, fraction or ``\\frac``; ``None`` if it is anything else."""
    try:
        if _NUMBER_RE.fullmatch(text):
            return Fraction(text)
        slash = _SLASH_RE.fullmatch(text)
        if slash:
            return Fraction(slash[1]) / Fraction(slash[2])
        frac = _FRAC_RE.fullmatch(text)
        if frac:
            value = Fraction(frac[2]) / Fraction(frac[3])
            return -value if frac[1] == "-" else value
    except (ValueError, ZeroDivisionError):
        return None
    return None


def _format_number(value: Fraction) -> str:
    """Write ``value`` as an integer, an exact terminating decimal, or a reduced ``p/q``."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    digits = str(abs(value.numerator) * 10**places // value.denominator).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    if places == 0:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def _bracket_delta(char: str) -> int:
    """Return +1 for an opening bracket, -1 for a closing one, else 0."""
    return 1 if char in "([{" else -1 if char in ")]}" else 0


def _split_collection(text: str) -> tuple[str, str, list[str]] | None:
    """Split a tuple, interval, set or bare comma list into (open, close, elements)."""
    opener, closer, inner = "", "", text
    if text.startswith("\\{") and text.endswith("\\}"):
        opener, closer, inner = "{", "}", text[2:-2]
    elif text and text[0] in "([{" and text[-1:] in ")]}" and _closes_at_end(text):
        opener, closer, inner = text[0], text[-1], text[1:-1]
    parts = _top_level_split(inner)
    if len(parts) < 2 or not all(parts):
        return None
    if opener in ("", "{"):
        return "{", "}", parts
    return opener, closer, parts


def _closes_at_end(text: str) -> bool:
    """Say whether the bracket opening ``text`` is closed by its last character."""
    depth = 0
    for match in _BRACKET_RE.finditer(text):
        depth += _bracket_delta(match.group())
        if depth == 0 and match.start() < len(text) - 1:
            return False
    return depth == 0


def _top_level_split(text: str) -> list[str]:
    """Split ``text`` on commas that are not inside brackets."""
    parts: list[str] = []
    depth = start = 0
    for match in _BRACKET_RE.finditer(text):
        depth += _bracket_delta(match.group())
        if match.group() == "," and depth == 0:
            parts.append(text[start : match.start()].strip())
            start = match.end()
    parts.append(text[start:].strip())
    return parts


def _normalize_math(text: str, depth: int = 0) -> str:
    """Canonicalise a cleaned math answer (numbers, collections, other expressions)."""
    value = _parse_clean_number(text)
    if value is not None:
        return _format_number(value)
    collection = _split_collection(text) if depth < _MAX_DEPTH else None
    if collection is None:
        return text
    opener, closer, parts = collection
    keys = [_normalize_math(_clean_math(part), depth + 1) for part in parts]
    if opener == "{":
        keys = sorted(set(keys))
    return opener + ",".join(keys) + closer


def _math_keys_equal(a: str, b: str, rel_tol: float, depth: int = 0) -> bool:
    """Compare two normalised math keys with numeric tolerance and collection structure."""
    if a == b:
        return True
    va, vb = _parse_clean_number(a), _parse_clean_number(b)
    if va is not None and vb is not None:
        return abs(va - vb) <= Fraction(rel_tol) * max(abs(va), abs(vb))
    if depth >= _MAX_DEPTH:
        return False
    ca, cb = _split_collection(a), _split_collection(b)
    if ca is None or cb is None or ca[:2] != cb[:2] or len(ca[2]) != len(cb[2]):
        return False
    pairs = zip(ca[2], cb[2], strict=True)
    if ca[0] != "{":
        return all(_math_keys_equal(x, y, rel_tol, depth + 1) for x, y in pairs)
    return _sets_match(ca[2], cb[2], rel_tol, depth + 1)


def _sets_match(left: list[str], right: list[str], rel_tol: float, depth: int) -> bool:
    """Match set elements exactly first, then greedily within tolerance (bounded work)."""
    exact = set(left) & set(right)
    rest_left = [x for x in left if x not in exact]
    remaining = [y for y in right if y not in exact]
    if len(rest_left) != len(remaining) or len(rest_left) > _MAX_SET_FUZZY:
        return False
    for item in rest_left:
        found = next((y for y in remaining if _math_keys_equal(item, y, rel_tol, depth)), None)
        if found is None:
            return False
        remaining.remove(found)
    return True


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
