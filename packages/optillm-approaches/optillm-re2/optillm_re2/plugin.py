"""The ``re2`` approach: re-reading.

Technique: the question is put to the model twice in one prompt — the question, then a short
request to read it again followed by the question once more — so that, reading left to right,
the model sees the whole question before it starts reasoning about it. One upstream call;
``n`` answers come from that one call (native ``n``) or from ``n`` concurrent calls.
Paper: Xu et al., "Re-Reading Improves Reasoning in Large Language Models" (2023,
arXiv:2309.06275).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    Choice,
    InvalidRequestError,
    RequestContext,
    hookimpl,
    param,
)
from optillm_core.models import Message, message_text
from optillm_core.prompting import conversation, generation_limit

REREAD = "Read the question again:"

#: Request fields passed to the call as the client sent them.
FORWARDED = (
    "temperature",
    "top_p",
    "stop",
    "seed",
    "response_format",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "reasoning_effort",
    "user",
)


class Re2Config(BaseModel):
    """Parameters of ``re2``."""

    model_config = ConfigDict(extra="forbid")

    default_max_tokens: int = param(
        0,
        "Token limit of the call when the request sends none (0: send none, as the reference).",
        ge=0,
    )


def reread(turns: list[Message]) -> list[Message]:
    """A copy of ``turns`` whose last user message asks to read its question again.

    String content becomes ``"<question>\\nRead the question again: <question>"``; a list of
    parts (text with images) keeps its parts and gets one more text part. Earlier turns are
    unchanged. Raises ``InvalidRequestError`` when there is no user text to re-read.
    """
    out = list(turns)
    for i in range(len(out) - 1, -1, -1):
        if out[i].get("role") != "user":
            continue
        question = message_text(out[i]).strip()
        if not question:
            break
        content = out[i].get("content")
        again = f"{REREAD} {question}"
        if isinstance(content, list):
            new: Any = [*content, {"type": "text", "text": "\n" + again}]
        else:
            new = f"{content}\n{again}"
        out[i] = {**out[i], "content": new}
        return out
    raise InvalidRequestError("re2 needs a user message with text to re-read.", param="messages")


class Re2(Approach):
    """Re-reading: one call with the question stated twice; honours ``n`` itself."""

    slug = "re2"
    summary = "Re-reading: the question is given twice in one prompt; one call for all n answers."
    paper = "https://arxiv.org/abs/2309.06275"
    Config = Re2Config
    handles_n: ClassVar[bool] = True
    features: ClassVar[frozenset[str]] = frozenset({"stop", "seed", "response_format", "images"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Ask once for ``n`` answers (``n`` calls at once where the upstream has no ``n``)."""
        config: Re2Config = ctx.config
        messages = reread(conversation(ctx.messages))
        params = {
            **ctx.request_params(FORWARDED),
            **generation_limit(ctx, config.default_max_tokens),
        }
        streamed = ctx.stream_final(messages, **params)
        if streamed is not None:
            return streamed
        choices = await ctx.sample(ctx.request.n, messages, **params)
        return ApproachResult(choices=[answer(choice) for choice in choices])


def answer(choice: Choice) -> Choice:
    """The client's choice: the stripped text with the real finish reason.

    A choice cut off by the token limit is returned as far as it got, marked ``length`` (as a
    direct call would be); a choice without text raises ``ApproachError``.
    """
    text = (choice.content or "").strip()
    if not text:
        raise ApproachError("re2: the upstream returned an empty answer.")
    return Choice(text, choice.finish_reason)


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``re2``."""
    register(Re2())
