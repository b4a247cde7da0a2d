"""Generation parameters taken from the client's request, with the reference's defaults."""

from __future__ import annotations

from typing import Any

from optillm_core import RequestContext

DEFAULT_MAX_TOKENS = 4096
"""The reference's output limit when the request sets none."""


def generation_params(ctx: RequestContext, default_temperature: float) -> dict[str, Any]:
    """Sampling parameters for the candidate calls.

    ``temperature`` and ``top_p`` are the client's when sent (``default_temperature`` else);
    the output limit is ``max_completion_tokens`` or ``max_tokens`` from the request, else
    4096, sent under the name the upstream wants.
    """
    sent = ctx.request_params(["temperature", "top_p", "max_completion_tokens", "max_tokens"])
    limit = sent.get("max_completion_tokens", sent.get("max_tokens", DEFAULT_MAX_TOKENS))
    params: dict[str, Any] = {
        "temperature": sent.get("temperature", default_temperature),
        ctx.upstream.capabilities.max_tokens_param: limit,
    }
    if "top_p" in sent:
        params["top_p"] = sent["top_p"]
    return params
