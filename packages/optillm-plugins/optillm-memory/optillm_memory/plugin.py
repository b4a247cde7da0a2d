"""The processor ``memory``: long contexts answered from notes taken chunk by chunk.

Technique: "writing in the margins" short-term memory — split the input into context and
question, cut the context into chunks, ask the model for the passages of each chunk that matter
to the question (all chunks concurrently, bounded), rank the notes against the question with
BM25, and hand the rest of the plan a short request: the system prompt, the best notes and the
question. Paper: Russak et al., "Writing in the Margins: Better Inference Pattern for Long
Context Retrieval" (2024, https://arxiv.org/abs/2408.14906).

Dependent rounds: ⌈chunks / concurrency⌉ extraction rounds, then the final stage (with the
implicit ``none``: one call). Notes live for one request unless the operator sets
``memory_file``; then they are kept per memory key (``x-optillm-memory-key`` in the body, else
the request's ``user``), and requests without a key keep nothing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from optillm_core import (
    ApproachError,
    ApproachResult,
    BudgetExceededError,
    CallNext,
    ChatRequest,
    Processor,
    RequestContext,
    gather,
    hookimpl,
)
from optillm_core.models import conversation_text

from .config import MemoryConfig, effective_config
from .notes import Extraction, answer_prompt, extraction_messages, parse_extraction
from .rank import top_notes
from .store import remember
from .text import chunk_text, split_question


def memory_key(config: MemoryConfig, request: ChatRequest) -> str | None:
    """Whose persisted notes this request uses: ``x-optillm-memory-key``, else ``user``."""
    if config.memory_key:
        return f"key:{config.memory_key}"
    user = request.extras.get("user")
    return f"user:{user}" if isinstance(user, str) and user else None


class Memory(Processor):
    """Replaces a long context by the notes that answer its question, then runs the rest."""

    slug = "memory"
    summary = "Long contexts: notes taken from every chunk concurrently, ranked, answered from."
    paper = "https://arxiv.org/abs/2408.14906"
    Config = MemoryConfig

    def __init__(self) -> None:
        self._store_lock = threading.Lock()  # held in the worker thread around each update

    async def extract(
        self, ctx: RequestContext, config: MemoryConfig, chunks: list[str], question: str
    ) -> list[str]:
        """Notes from every chunk, in reading order (at most ``concurrency`` calls at once)."""
        limiter = anyio.CapacityLimiter(config.concurrency)

        async def one(index: int, chunk: str) -> Extraction:
            messages = extraction_messages(question, chunk, index, len(chunks))
            async with limiter:
                reply = await ctx.complete(messages, max_tokens=config.extract_max_tokens)
            if reply.finish_reason == "length":
                ctx.log.info("memory: notes of chunk %d cut at the token limit", index)
            return parse_extraction(reply.text)

        results = await gather(
            *(functools.partial(one, i, chunk) for i, chunk in enumerate(chunks, 1))
        )
        unusable = sum(r.relevant is None for r in results)
        if results and unusable == len(results):
            raise ApproachError(
                "memory: no chunk's reply followed the YES#/NO# note format.",
                code="unusable_notes",
            )
        if unusable:
            ctx.log.warning("memory: %d of %d chunk replies unusable", unusable, len(results))
        return [r.note for r in results if r.relevant and r.note]

    async def recall(
        self, config: MemoryConfig, request: ChatRequest, notes: list[str]
    ) -> list[str]:
        """This request's notes, joined with the key's persisted ones when persistence is on."""
        key = memory_key(config, request)
        if not config.memory_file or key is None:
            return notes[-config.max_notes :]

        def update() -> list[str]:
            with self._store_lock:
                return remember(config.memory_file, key, notes, config.max_notes)

        return await anyio.to_thread.run_sync(update)

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: CallNext
    ) -> ApproachResult:
        """Take notes from the context, then run the rest of the plan on notes + question."""
        config = effective_config(ctx)
        context, question = split_question(
            conversation_text(request.messages), config.question_marker
        )
        chunks = chunk_text(context, config.chunk_size)
        if not ctx.budget.can_afford(len(chunks) + 1):
            raise BudgetExceededError(
                f"memory: {len(chunks)} chunks of {config.chunk_size} characters need "
                f"{len(chunks) + 1} upstream calls, more than this request may make."
            )
        notes = await self.recall(
            config, request, await self.extract(ctx, config, chunks, question)
        )
        best = top_notes(question, notes, config.top_k)
        ctx.log.info("memory: %d chunks, %d notes, %d used", len(chunks), len(notes), len(best))
        system = [m for m in request.messages if m.get("role") in ("system", "developer")]
        messages = [*system, {"role": "user", "content": answer_prompt(best, question)}]
        result = await call_next(request.with_messages(messages))
        if result.raw is not None:  # the upstream body's usage would miss the extraction calls
            return ApproachResult(choices=result.choices)
        return result


@hookimpl
def register_processors(register: Callable[[Any], None]) -> None:
    """Register ``memory``."""
    register(Memory())
