"""The selector's prompt, the parser of its verdict, and the fallback when there is none.

The selector is asked to end with ``BEST CANDIDATE: <k>``, ``k`` counting from 1 in the order
the candidates were listed. :func:`parse_choice` reads that line (or a few common phrasings)
and rejects indexes out of range; :func:`fallback_index` decides when no verdict can be read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from optillm_core.answers import answer_key, majority
from optillm_core.models import Message
from optillm_core.prompting import append_to_last_user

_VERDICT_RE = re.compile(
    r"best\s+candidate\s*(?:is\s*)?[:=\-]?\s*(?:candidate\s*)?[#(\[]?\s*(\d+)", re.I
)
_PHRASE_RES = (
    re.compile(
        r"candidate\s*#?\s*(\d+)\s+(?:is|was|seems|appears)\s+(?:to\s+be\s+)?(?:the\s+)?"
        r"(?:best|strongest|most\s+(?:accurate|correct|complete|rigorous))",
        re.I,
    ),
    re.compile(
        r"(?:best|strongest|most\s+(?:accurate|correct|complete|rigorous))\s+"
        r"(?:candidate|solution|answer|response)\s+(?:is|:)\s*(?:candidate\s*)?#?\s*(\d+)",
        re.I,
    ),
    re.compile(r"(?:choose|select|pick|prefer)\s+candidate\s*#?\s*(\d+)", re.I),
)

SELECTOR_INSTRUCTIONS = (
    "You are an expert reviewer choosing the best of several candidate replies to the same "
    "request. Check each candidate carefully: is its reasoning sound, is its final result "
    "correct, does it answer everything that was asked, and does it follow the instructions "
    "it was given? Prefer a correct, well-justified reply over a long or confident one. "
    "Compare the candidates briefly, then finish with one line of the exact form\n"
    "BEST CANDIDATE: <number>\n"
    "where <number> is the candidate's number as listed (counting from 1)."
)


def selection_messages(
    turns: Sequence[Message], system_prompt: str, candidates: Sequence[str]
) -> list[Message]:
    """The selector's conversation: its instructions, the user's turns, and the candidates
    appended to the last user turn (which keeps the roles alternating).

    The user's own system prompt is quoted in the instructions (the candidates had to follow
    it) instead of being sent as a second system message.
    """
    instructions = SELECTOR_INSTRUCTIONS
    if system_prompt.strip():
        instructions += (
            "\n\nThe candidates were written under these instructions:\n<instructions>\n"
            f"{system_prompt.strip()}\n</instructions>"
        )
    listing = "\n\n".join(
        f'<candidate number="{i}">\n{text.strip()}\n</candidate>'
        for i, text in enumerate(candidates, start=1)
    )
    request = (
        f"Above is the request. Here are {len(candidates)} candidate replies to it.\n\n"
        f"{listing}\n\nWhich candidate is best? End with the line "
        "'BEST CANDIDATE: <number>'."
    )
    dialogue = [turn for turn in turns if turn.get("role") in ("user", "assistant")]
    return [{"role": "system", "content": instructions}, *append_to_last_user(dialogue, request)]


def parse_choice(reply: str, count: int) -> int | None:
    """The 0-based index the selector chose among ``count`` candidates, or ``None``.

    The last ``BEST CANDIDATE: k`` wins (markdown emphasis ignored); without one, the last of a
    few phrasings ("candidate 2 is the best", "the best solution is candidate 2", "I choose
    candidate 2"). ``k`` counts from 1; ``0`` or a ``k`` above ``count`` gives ``None``.
    """
    text = reply.replace("*", "").replace("_", " ")
    found = _VERDICT_RE.findall(text)
    if not found:
        matches = [m for pattern in _PHRASE_RES for m in pattern.finditer(text)]
        found = [max(matches, key=lambda m: m.start()).group(1)] if matches else []
    if not found:
        return None
    number = int(found[-1])
    return number - 1 if 1 <= number <= count else None


def fallback_index(texts: Sequence[str], question: str | None = None) -> int:
    """The candidate to return when the selector named none: the first one stating the most
    common final answer (``optillm_core.answers.answer_key``, ties to the first seen), else the
    first candidate."""
    keys = [answer_key(text, "math", question=question) for text in texts]
    best, _ = majority(keys)
    return 0 if best is None else keys.index(best)
