"""The prompts of ``plansearch`` (written for this project), and reading observation lists."""

from __future__ import annotations

import re

OBSERVE = """\
Here is a programming problem.

{problem}

Without writing any code, list {count} observations about this problem that are useful for \
solving it and are not obvious at first sight: properties of the input, structure that can be \
exploited, invariants, reductions to known problems. Write one observation per line as a \
numbered list, with nothing else."""

DERIVE = """\
Here is a programming problem.

{problem}

These observations have been made about it:
{observations}

Combine and build on these observations to find {count} new observations that are not in the \
list yet and bring the solution closer. Write one new observation per line as a numbered list, \
with nothing else."""

PLAN = """\
Here is a programming problem.

{problem}

Observations about it:
{observations}

Using these observations, describe a complete solution in plain language: the algorithm step \
by step, with its time complexity. Quote the observations you rely on. Do not write code."""

CODE = """\
Here is a programming problem.

{problem}

A solution described in words:
{plan}

Implement exactly this solution in Python. Reply with the complete program in one \
```python fenced code block."""

_MARKER = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.):]|\(\d{1,2}\))\s+")


def read_observations(text: str, cut_off: bool) -> list[str]:
    """The observations in a list reply: the numbered or bulleted lines (every non-empty line
    when none is marked), markers removed. When the reply was ``cut_off`` by the token limit,
    its last, unfinished line is dropped."""
    lines = text.strip().splitlines()
    if cut_off and lines:
        lines = lines[:-1]
    marked = [_MARKER.sub("", line).strip() for line in lines if _MARKER.match(line)]
    items = marked or [line.strip() for line in lines]
    return [item for item in items if item]
