"""The ``cot_reflection`` approach: chain-of-thought reasoning with a self-reflection step,
answered in one upstream call.

Technique: the model reasons inside ``<thinking>``, checks itself inside ``<reflection>`` and
puts the final answer inside ``<output>``; the client gets only the ``<output>`` part (or the
whole reply, with ``return_full_response``). Paper: Wei et al., "Chain-of-Thought Prompting
Elicits Reasoning in Large Language Models" (2022), with the reflection step of Shinn et al.,
"Reflexion: Language Agents with Verbal Reinforcement Learning" (2023), done in one call.
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
    Completion,
    RequestContext,
    hookimpl,
    param,
)
from optillm_core.prompting import conversation, generation_limit, join_system, with_system

from .streaming import output_only, truncated_before_output
from .tags import extract_output

INSTRUCTIONS = """\
Before you answer, work the problem through in the following layout.

1. Inside <thinking> tags, reason step by step towards the answer.
2. Inside the thinking, at least once, step back inside <reflection> tags: look for mistakes, \
gaps and unjustified assumptions in what you have reasoned so far, and say how to fix them. \
Continue the thinking with those fixes applied.
3. After </thinking>, give the final answer inside <output> tags. The reader sees only the \
<output> section, so it must stand on its own, without references to your thinking.

The layout:
<thinking>
step-by-step reasoning
<reflection>
a check of the reasoning, with corrections
</reflection>
reasoning continued with the corrections
</thinking>
<output>
the final answer
</output>"""


class CotReflectionConfig(BaseModel):
    """Parameters of ``cot_reflection``."""

    model_config = ConfigDict(extra="forbid")

    return_full_response: bool | None = param(
        None,
        "Return the whole reply (thinking and reflection included) instead of only the "
        "<output> section. Unset: the server-wide --return-full-response "
        "(OPTILLM_RETURN_FULL_RESPONSE), false by default.",
    )
    default_temperature: float = param(
        0.6, "Sampling temperature of the call when the request sends none.", ge=0, le=2
    )
    default_max_tokens: int = param(
        4096, "Token limit of the call when the request sends none (0: send none).", ge=0
    )


class CotReflection(Approach):
    """One call that thinks, reflects and answers in tags; returns the answer part."""

    slug = "cot_reflection"
    summary = "Chain of thought with self-reflection in one call; returns only the <output> part."
    paper = "https://arxiv.org/abs/2201.11903"
    Config = CotReflectionConfig
    features: ClassVar[frozenset[str]] = frozenset({"seed", "images"})

    def full_response(self, ctx: RequestContext) -> bool:
        """Per-request/plugin setting if given, else the server-wide ``return_full_response``."""
        chosen: bool | None = ctx.config.return_full_response
        if chosen is not None:
            return chosen
        return bool(getattr(ctx.state.settings, "return_full_response", False))

    def messages(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """The conversation behind one system prompt: the client's, then the tag layout."""
        system = join_system(ctx.system_prompt, INSTRUCTIONS)
        return with_system(system, conversation(ctx.messages, system=False))

    def params(self, ctx: RequestContext) -> dict[str, Any]:
        """The client's temperature (else the default), top_p, seed and token limit."""
        config: CotReflectionConfig = ctx.config
        sent = ctx.request_params(["temperature", "top_p", "seed"])
        return {
            "temperature": sent.pop("temperature", config.default_temperature),
            **sent,
            **generation_limit(ctx, config.default_max_tokens),
        }

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Ask once; stream or return the ``<output>`` part (or everything)."""
        messages, params = self.messages(ctx), self.params(ctx)
        full = self.full_response(ctx)
        if ctx.request.stream:
            chunks = ctx.stream({"model": ctx.model, "messages": messages, **params})
            return ApproachResult(stream=chunks if full else output_only(chunks))
        completion = await ctx.complete(messages, **params)
        return ApproachResult(choices=[answer(completion, full)])


def answer(completion: Completion, full: bool) -> Choice:
    """The client's answer from the tagged reply.

    Without ``full``: the ``<output>`` section; the whole reply when it has no such section
    (the model ignored the layout). Raises ``ApproachError`` for an empty reply, an empty
    ``<output>``, or a reply cut off by the token limit before ``<output>``. An ``<output>``
    that was itself cut off is returned as far as it got, with ``finish_reason`` ``length``.
    """
    text = completion.text.strip()
    finish = completion.finish_reason
    if not text:
        raise ApproachError("cot_reflection: the upstream returned an empty reply.")
    if full:
        return Choice(text, finish)
    output = extract_output(text)
    if output is None:
        if finish == "length":
            raise truncated_before_output()
        return Choice(text, finish)
    if not output:
        if finish == "length":
            raise truncated_before_output()
        raise ApproachError("cot_reflection: the reply's <output> section is empty.")
    return Choice(output, finish)


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``cot_reflection``."""
    register(CotReflection())
