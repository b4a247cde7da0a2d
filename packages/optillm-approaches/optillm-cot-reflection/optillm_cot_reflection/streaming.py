"""Streaming only the ``<output>`` section of a ``cot_reflection`` reply, incrementally."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from optillm_core import ApproachError

from .tags import OutputFilter

Chunk = dict[str, Any]


def _content_chunk(template: Chunk, index: int, text: str) -> Chunk:
    item = {"index": index, "delta": {"content": text}, "finish_reason": None}
    return {**template, "choices": [item]}


def truncated_before_output() -> ApproachError:
    """The error for a reply cut off by the token limit before its ``<output>`` section."""
    return ApproachError(
        "cot_reflection: the reply was cut off by the token limit (finish_reason 'length') "
        "before it reached its <output> section; raise max_tokens, or set "
        "return_full_response to get the reasoning."
    )


async def output_only(chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    """Upstream chunks rewritten to carry only the ``<output>`` text, as soon as it is certain.

    The thinking before ``<output>`` is never sent; a reply that never opens the section is
    sent whole when it ends (the reference's fallback). A reply cut off by the token limit
    before ``<output>`` raises ``ApproachError`` before any chunk was yielded, so the server
    can still answer with an ordinary error response. Other delta fields (role, reasoning)
    are dropped; the server adds the role. Usage-only chunks pass unchanged.
    """
    filters: dict[int, OutputFilter] = {}
    template: Chunk = {}
    try:
        async for chunk in chunks:
            items = chunk.get("choices") or []
            if not items:
                yield chunk
                continue
            template = {k: v for k, v in chunk.items() if k != "choices"}
            for item in items:
                index = int(item.get("index", 0))
                flt = filters.setdefault(index, OutputFilter())
                text = flt.feed((item.get("delta") or {}).get("content") or "")
                finish = item.get("finish_reason")
                if finish:
                    if finish == "length" and not flt.seen_output:
                        raise truncated_before_output()
                    text += flt.finish()
                if text:
                    yield _content_chunk(template, index, text)
                if finish:
                    yield {**template, "choices": [{**item, "delta": {}}]}
    finally:  # stop reading the upstream when the client or an error ends the stream
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    for index, flt in sorted(filters.items()):  # an upstream that never sent a finish_reason
        rest = flt.finish()
        if rest:
            yield _content_chunk(template, index, rest)
