"""``none``: the request goes upstream unchanged (optillm-only fields removed)."""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from ..approach import Approach
from ..concurrency import gather
from ..context import RequestContext
from ..results import ApproachResult, merge_results


class NoneApproach(Approach):
    """Passthrough: forwards every field, returns the upstream's body or stream unchanged."""

    slug = "none"
    summary = "Passthrough: the request goes to the upstream model unchanged."
    handles_n: ClassVar[bool] = True
    features = frozenset({"tools", "response_format", "stop", "seed", "images", "logprobs"})

    def _body(self, ctx: RequestContext, n: int | None) -> dict[str, Any]:
        body = ctx.request.body()
        body["model"] = ctx.model
        body.pop("stream", None)
        if n is not None:
            body["n"] = n
        if not ctx.request.stream:
            body.pop("stream_options", None)
        return body

    async def _one(self, ctx: RequestContext, n: int | None) -> ApproachResult:
        body = self._body(ctx, n)
        if ctx.request.stream:
            return ApproachResult(stream=ctx.stream(body))
        return ApproachResult.from_raw(await ctx.create(body))

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """One upstream call; ``n`` concurrent calls when the upstream lacks native ``n``."""
        n = ctx.request.n
        if n == 1 or ctx.upstream.capabilities.n:
            return await self._one(ctx, None)
        results = await gather(*(functools.partial(self._one, ctx, 1) for _ in range(n)))
        return merge_results(results, [1] * n)
