"""Number parsing, LaTeX clean-up and equivalence of math answers (used by ``answers``)."""

from __future__ import annotations

from fractions import Fraction

from ._answer_patterns import (
    _ASSIGN_RE,
    _BOXED_BARE_RE,
    _BOXED_RE,
    _BRACE_RE,
    _BRACKET_RE,
    _DEGREE_RE,
    _FRAC_RE,
    _FRAC_SHORT_RE,
    _LEFT_RIGHT_RE,
    _LONE_SPACE_RE,
    _MAX_DEPTH,
    _MAX_SET_FUZZY,
    _NUMBER_RE,
    _POWER_BRACE_RE,
    _SLASH_RE,
    _SPACE_RE,
    _SPACING_RE,
    _SQRT_SHORT_RE,
    _TEXT_WRAP_RE,
    _THOUSANDS_RE,
    _TRAILING_PUNCT,
    _UNIT_RE,
)


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
