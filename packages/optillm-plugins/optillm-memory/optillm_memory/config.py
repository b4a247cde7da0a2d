"""Parameters of ``memory`` and what a request may change.

``memory_file`` (persistence) belongs to the operator: a request that sets it is refused (400,
by the core: the field is ``operator_only``). ``concurrency`` may be lowered per request; a
higher value is clamped to the operator's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from optillm_core import RequestContext, param

#: Parameters a request may lower but not raise (a higher value is clamped to the operator's).
LIMITS = ("concurrency",)


class MemoryConfig(BaseModel):
    """Parameters of ``memory``."""

    model_config = ConfigDict(extra="forbid")

    chunk_size: int = param(
        100_000, "Characters of context per chunk (one extraction call each).", ge=200
    )
    question_marker: str = param(
        "Query:",
        "Text after the last occurrence of this marker is the question, the text before it the "
        "context. Without the marker the last sentence is the question.",
    )
    top_k: int = param(10, "Notes given to the final answer (best ranked first).", ge=1)
    max_notes: int = param(
        100, "Notes kept per request (and per key when persisted); oldest dropped first.", ge=1
    )
    concurrency: int = param(8, "Chunk extraction calls running at once.", ge=1)
    extract_max_tokens: int = param(1000, "Token limit of each extraction call.", ge=1)
    memory_file: str = param(
        "",
        "JSON file that keeps notes across requests, per memory key (empty: notes live for "
        "one request). Operator only.",
        env=["OPTILLM_MEMORY_FILE"],
        operator_only=True,
    )
    memory_key: str = param(
        "",
        "Whose persisted notes this request reads and adds to (default: the request's `user` "
        "field; no key, no persistence). Body key `x-optillm-memory-key`.",
        aliases=["x-optillm-memory-key"],
    )


def effective_config(ctx: RequestContext) -> MemoryConfig:
    """The request's configuration with its limits clamped to the operator's."""
    requested: MemoryConfig = ctx.config
    operator: MemoryConfig = ctx.operator_config()
    clamped = {name: min(getattr(requested, name), getattr(operator, name)) for name in LIMITS}
    return requested.model_copy(update=clamped)
