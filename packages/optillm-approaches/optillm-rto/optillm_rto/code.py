"""Code in a reply: the first fenced block, and the comparison of two versions."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:\n[ \t]*)?```", re.S)


def extract_code(text: str) -> str:
    """The body of the first fenced code block (```` ```lang ... ``` ````), else the whole text,
    stripped."""
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip()


def normalized(code: str) -> str:
    """``code`` without trailing whitespace on its lines and without blank lines at either end;
    two versions that differ only there count as the same."""
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def same_code(first: str, second: str) -> bool:
    """Whether two extracted codes are the same after normalization."""
    return normalized(first) == normalized(second)
