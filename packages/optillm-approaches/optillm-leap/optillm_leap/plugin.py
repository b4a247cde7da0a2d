"""The ``leap`` approach: learning principles from mistakes.

Technique: the few-shot examples in the request are extracted; for each one the model writes a
solution that goes wrong, and, where its answer differs from the example's, analyses the
mistake into a general principle; the principles are condensed into a short list that guides
the final answer. Examples are independent, so each example's mistake-then-principle chain runs
concurrently with the others: at most 5 dependent rounds (extract → mistakes → principles →
condense → answer) whatever the number of examples.
Paper: Zhang et al., "In-Context Principle Learning from Mistakes" (2024, arXiv:2402.05403).
"""

from __future__ import annotations

import functools
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
    gather,
    hookimpl,
    param,
)
from optillm_core.prompting import (
    conversation,
    generation_limit,
    join_system,
    numbered,
    with_system,
)

from . import prompts
from .parsing import Example, parse_examples, parse_list, same_answer, tag_content


class LeapConfig(BaseModel):
    """Parameters of ``leap``."""

    model_config = ConfigDict(extra="forbid")

    max_examples: int = param(
        8, "Most few-shot examples learned from (0: no learning, answer directly).", ge=0, le=32
    )
    max_principles: int = param(8, "Most high-level principles kept.", ge=1, le=32)
    mistake_temperature: float = param(
        0.7, "Sampling temperature of the calls that solve the examples.", ge=0, le=2
    )
    default_max_tokens: int = param(
        4096, "Token limit of every call when the request sends none (0: send none).", ge=0
    )


def _usable(reply: Completion) -> str | None:
    """The reply's text, ``None`` when it is empty or cut off by the token limit."""
    text = reply.text.strip()
    return text if text and reply.finish_reason != "length" else None


class Leap(Approach):
    """Learns principles from mistakes on the request's examples, then answers."""

    slug = "leap"
    summary = (
        "Learning principles from mistakes on the prompt's few-shot examples, then answering "
        "with them (examples handled concurrently)."
    )
    paper = "https://arxiv.org/abs/2402.05403"
    Config = LeapConfig
    handles_n: ClassVar[bool] = True
    features: ClassVar[frozenset[str]] = frozenset({"seed", "images"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Extract examples, learn principles from them, answer with the principles."""
        config: LeapConfig = ctx.config
        examples = await self.extract_examples(ctx) if config.max_examples else []
        principles = await self.learn(ctx, examples) if examples else []
        return await self.answer(ctx, principles)

    # -- round 1: the examples ------------------------------------------------------------
    async def extract_examples(self, ctx: RequestContext) -> list[Example]:
        """The request's few-shot examples (one call); none when the reply cannot be read."""
        config: LeapConfig = ctx.config
        prompt = prompts.EXTRACT.format(query=ctx.query)
        reply = await ctx.complete(
            [{"role": "user", "content": prompt}],
            **generation_limit(ctx, config.default_max_tokens),
        )
        text = _usable(reply)
        examples = parse_examples(text) if text else None
        if examples is None:
            ctx.log.warning("leap: unreadable example-extraction reply; answering without examples")
            return []
        return examples[: config.max_examples]

    # -- rounds 2-4: the principles -------------------------------------------------------
    async def learn(self, ctx: RequestContext, examples: list[Example]) -> list[str]:
        """Principles from all examples, each example's chain concurrently, then condensed."""
        found = await gather(*(functools.partial(self.lesson, ctx, ex) for ex in examples))
        lessons = list(dict.fromkeys(p for p in found if p))
        if not lessons:
            return []
        return await self.condense(ctx, lessons)

    async def lesson(self, ctx: RequestContext, example: Example) -> str | None:
        """One example: a solution with a mistake, then, if its answer is wrong, a principle.

        ``None`` when there is nothing to learn: an unusable reply, no final answer, or an
        answer that is right after all.
        """
        config: LeapConfig = ctx.config
        limit = generation_limit(ctx, config.default_max_tokens)
        attempt = await ctx.complete(
            [{"role": "user", "content": prompts.MISTAKE.format(question=example.question)}],
            temperature=config.mistake_temperature,
            **limit,
        )
        solution = _usable(attempt)
        wrong = tag_content(solution) if solution else None
        if not solution or not wrong or same_answer(wrong, example.answer):
            return None
        prompt = prompts.PRINCIPLE.format(
            question=example.question, solution=solution, wrong=wrong, right=example.answer
        )
        analysis = _usable(await ctx.complete([{"role": "user", "content": prompt}], **limit))
        if not analysis:
            return None
        return tag_content(analysis) or None

    async def condense(self, ctx: RequestContext, lessons: list[str]) -> list[str]:
        """At most ``max_principles`` high-level principles (one call); when the reply is
        unusable, the low-level lessons themselves (the first ``max_principles``)."""
        config: LeapConfig = ctx.config
        prompt = prompts.CONDENSE.format(principles=numbered(lessons), limit=config.max_principles)
        reply = await ctx.complete(
            [{"role": "user", "content": prompt}],
            **generation_limit(ctx, config.default_max_tokens),
        )
        text = _usable(reply)
        principles = parse_list(text) if text else []
        if not principles:
            ctx.log.warning("leap: unusable condensing reply; using the lessons as they are")
            principles = lessons
        return principles[: config.max_principles]

    # -- round 5: the answer --------------------------------------------------------------
    async def answer(self, ctx: RequestContext, principles: list[str]) -> ApproachResult:
        """The conversation answered with the principles in the system prompt; ``n`` answers
        from one call (streamed when asked and possible)."""
        config: LeapConfig = ctx.config
        guide = prompts.APPLY.format(principles=numbered(principles)) if principles else ""
        system = join_system(ctx.system_prompt, guide)
        messages = with_system(system, conversation(ctx.messages, system=False))
        params = {
            **ctx.request_params(["temperature", "top_p", "seed"]),
            **generation_limit(ctx, config.default_max_tokens),
        }
        streamed = ctx.stream_final(messages, **params)
        if streamed is not None:
            return streamed
        choices = await ctx.sample(ctx.request.n, messages, **params)
        return ApproachResult(choices=[_final(choice) for choice in choices])


def _final(choice: Choice) -> Choice:
    """A final answer as it came (cut-off ones marked ``length``); an empty one is an error."""
    text = (choice.content or "").strip()
    if not text:
        raise ApproachError("leap (final answer): the upstream returned an empty reply.")
    return Choice(text, choice.finish_reason)


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``leap``."""
    register(Leap())
