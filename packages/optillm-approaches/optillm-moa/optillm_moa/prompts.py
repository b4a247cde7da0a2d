"""The critique and synthesis instructions of ``moa``.

Both are appended to the user's last message, so the model sees the whole conversation (system
prompt, earlier turns, images) and then the drafts it is asked to review or merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Draft:
    """One candidate response and whether it was cut off at the token limit."""

    text: str
    truncated: bool = False


def _drafts_block(drafts: Sequence[Draft]) -> str:
    blocks = []
    for i, draft in enumerate(drafts, start=1):
        note = ' status="cut off at the token limit, incomplete"' if draft.truncated else ""
        blocks.append(f'<draft id="{i}"{note}>\n{draft.text.strip()}\n</draft>')
    return "\n\n".join(blocks)


def critique_prompt(drafts: Sequence[Draft]) -> str:
    """Ask for a review of every draft (not for an answer)."""
    count = "one draft response" if len(drafts) == 1 else f"{len(drafts)} draft responses"
    return (
        f"---\nBefore anyone answers the request above, {count} to it were written "
        "independently:\n\n"
        f"{_drafts_block(drafts)}\n\n"
        "Do not answer the request yourself. Review the drafts instead. For each one, say "
        "briefly what it gets right and what is wrong, missing or unclear; check facts and "
        "calculations. End with what the best possible response must keep and must fix."
    )


def final_prompt(drafts: Sequence[Draft], review: str, review_truncated: bool = False) -> str:
    """Ask for the final response, built from the drafts and the review."""
    parts = [
        "---\nDraft responses to the request above were written independently:",
        _drafts_block(drafts),
    ]
    if review.strip():
        note = ' status="cut off, incomplete"' if review_truncated else ""
        parts.append(f"A reviewer assessed them:\n\n<review{note}>\n{review.strip()}\n</review>")
    parts.append(
        "Now write the single best response to the request above. Keep what the drafts get "
        "right, fix what is wrong or missing, and follow any instructions the request gave. "
        "Answer the user directly: do not mention the drafts, the review or this process."
    )
    return "\n\n".join(parts)
