"""The upstream work of ``mcts``: candidate replies, simulated user turns and state scores.

Three kinds of call, each metered through the request context:

* **actions** — ``k`` candidate assistant replies to a state (one ``ctx.sample`` call: native
  ``n`` where the upstream has it, ``k`` concurrent calls otherwise);
* **apply** — the model, playing the user, predicts the next user message after a reply;
* **evaluate** — the model scores a conversation from 0 to 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optillm_core import Choice, RequestContext
from optillm_core.models import Message, message_text
from optillm_core.prompting import usable_choices

USER_SIMULATOR_PROMPT = (
    "You play the part of the user in the conversation below. Write the message this user "
    "would most plausibly send next, in their own voice. Reply with that message alone: no "
    "label, no quotation marks, no commentary."
)
EVALUATOR_PROMPT = (
    "You review conversations between a user and an AI assistant. Judge how well the "
    "assistant's replies serve the user: are they correct, helpful, clear and on topic? "
    "Reply with one number from 0 to 1, where 0 means useless or wrong and 1 means excellent, "
    "and write nothing else."
)
#: Used as the predicted user message when the simulation gives nothing usable.
FALLBACK_USER_TURN = "Please continue."
#: The score of a state whose evaluation cannot be read (neither good nor bad).
NEUTRAL_SCORE = 0.5
SIMULATION_MAX_TOKENS = 1024
EVALUATION_MAX_TOKENS = 256
SIMULATION_TEMPERATURE = 1.0
EVALUATION_TEMPERATURE = 0.1

_LABEL_RE = re.compile(r"^\s*(?:\*\*)?(?:user|next user message)\s*(?:\*\*)?\s*:\s*", re.I)
_THINK_RE = re.compile(r"<think>.*?</think>", re.S | re.I)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_SCORE_RE = re.compile(rf"({_NUMBER})(?:\s*(?:/|out\s+of)\s*({_NUMBER}))?\s*(%)?", re.I)
_KEYWORD_RE = re.compile(r"\b(?:score|rating|rated|rate|grade)\b[^\d+\-.]{0,20}", re.I)


def transcript(messages: Sequence[Message]) -> str:
    """The conversation as labelled text (``System:`` / ``User:`` / ``Assistant:`` blocks)."""
    labels = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant"}
    blocks = [
        f"{labels[m['role']]}: {message_text(m).strip()}"
        for m in messages
        if m.get("role") in labels
    ]
    return "\n\n".join(blocks)


def parse_score(text: str) -> float | None:
    """Read a quality score from an evaluator's reply and clamp it to ``[0, 1]``.

    Accepts a bare number (``0.8``), a fraction or ratio (``4/5``, ``8 out of 10``), a
    percentage (``80%``), and a number after "score"/"rating" inside prose (``Score: 0.7``).
    A bare number above 1 is read on a 10-point scale when it is at most 10, else on a
    100-point scale. ``<think>`` blocks and markdown emphasis are ignored. ``None`` when the
    reply holds no number.
    """
    cleaned = _THINK_RE.sub("", text).replace("*", "").strip()
    keywords = list(_KEYWORD_RE.finditer(cleaned))
    match = _SCORE_RE.match(cleaned, keywords[-1].end()) if keywords else None
    match = match or _SCORE_RE.search(cleaned)
    if match is None:
        return None
    value = float(match[1])
    if match[2] is not None:
        scale = float(match[2])
        value = value / scale if scale > 0 else 0.0
    elif match[3] or value > 10:
        value /= 100.0
    elif value > 1:
        value /= 10.0
    return min(1.0, max(0.0, value))


def _token_limit(limit: dict[str, Any], cap: int) -> dict[str, Any]:
    """``limit`` with every value capped at ``cap`` (``max_tokens=cap`` when it is empty)."""
    return {key: min(int(value), cap) for key, value in limit.items()} or {"max_tokens": cap}


@dataclass
class Dialogue:
    """The three kinds of upstream call, bound to one request.

    ``limit`` holds the token-limit field(s) of reply generations; ``temperature`` is the
    temperature of candidate replies.
    """

    ctx: RequestContext
    limit: dict[str, Any]
    temperature: float

    async def actions(self, messages: list[Message], k: int) -> list[Choice]:
        """``k`` candidate replies to a state in one round; unusable ones dropped."""
        choices = await self.ctx.sample(k, messages, temperature=self.temperature, **self.limit)
        return usable_choices(choices)

    async def action(self, messages: list[Message]) -> Choice | None:
        """One candidate reply (for rollouts), ``None`` when it is unusable."""
        completion = await self.ctx.complete(messages, temperature=self.temperature, **self.limit)
        found = usable_choices(completion.choices[:1])
        return found[0] if found else None

    async def apply(self, messages: list[Message], reply: Choice) -> list[Message]:
        """The state after ``reply``: the reply as an assistant turn plus a predicted user turn.

        An empty or truncated prediction becomes ``FALLBACK_USER_TURN``.
        """
        after = [*messages, {"role": "assistant", "content": reply.text}]
        completion = await self.ctx.complete(
            [
                {"role": "system", "content": USER_SIMULATOR_PROMPT},
                {"role": "user", "content": transcript(after)},
            ],
            temperature=SIMULATION_TEMPERATURE,
            **_token_limit(self.limit, SIMULATION_MAX_TOKENS),
        )
        predicted = _LABEL_RE.sub("", completion.text).strip()
        if not predicted or completion.finish_reason == "length":
            predicted = FALLBACK_USER_TURN
        return [*after, {"role": "user", "content": predicted}]

    async def evaluate(self, messages: list[Message]) -> float:
        """The model's 0-1 score of a state; ``NEUTRAL_SCORE`` when none can be read."""
        completion = await self.ctx.complete(
            [
                {"role": "system", "content": EVALUATOR_PROMPT},
                {"role": "user", "content": transcript(messages)},
            ],
            temperature=EVALUATION_TEMPERATURE,
            max_tokens=EVALUATION_MAX_TOKENS,
        )
        score = parse_score(completion.text)
        if score is None:
            self.ctx.log.debug("mcts: unreadable evaluation, using %s", NEUTRAL_SCORE)
            return NEUTRAL_SCORE
        return score
