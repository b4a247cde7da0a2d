"""Request features an approach must honour or refuse (DESIGN §8.6).

An approach declares in ``features`` which of ``tools``, ``response_format``, ``stop``, ``seed``,
``images`` and ``logprobs`` it passes on to its final call. A request that uses a feature some
approach of its plan does not declare is refused with a 400 naming it — or, when the operator
sets ``--drop-unsupported-features``, the feature is removed and the response says so in
``x-optillm-dropped-features``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .approach import Approach
from .errors import InvalidRequestError
from .models import ChatRequest, Message

FIELDS: dict[str, tuple[str, ...]] = {
    "tools": ("tools", "tool_choice", "functions", "function_call", "parallel_tool_calls"),
    "response_format": ("response_format",),
    "stop": ("stop",),
    "seed": ("seed",),
    "logprobs": ("logprobs", "top_logprobs"),
}
MEDIA_PARTS = frozenset({"image_url", "input_image", "input_audio", "file", "image"})


def _has_media(messages: list[Message]) -> bool:
    return any(
        isinstance(m.get("content"), list)
        and any(isinstance(p, dict) and p.get("type") in MEDIA_PARTS for p in m["content"])
        for m in messages
    )


def _present(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != ""


def requested(request: ChatRequest) -> set[str]:
    """The features a request uses."""
    extras = request.extras
    used = {
        feature
        for feature, names in FIELDS.items()
        if any(_present(extras.get(name)) for name in names)
    }
    if _has_media(request.messages):
        used.add("images")
    return used


def _without_media(messages: list[Message]) -> list[Message]:
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts = [
                p for p in content if not (isinstance(p, dict) and p.get("type") in MEDIA_PARTS)
            ]
            message = {**message, "content": parts}
        out.append(message)
    return out


def enforce(
    request: ChatRequest, approaches: Iterable[Approach], *, drop: bool
) -> tuple[ChatRequest, list[str]]:
    """Refuse (or drop, when ``drop``) features the plan's approaches do not honour.

    Returns the request to run and the sorted list of dropped features.
    """
    used = requested(request)
    if not used:
        return request, []
    missing: dict[str, str] = {}
    for approach in approaches:
        for feature in sorted(used - approach.features):
            missing.setdefault(feature, approach.slug)
    if not missing:
        return request, []
    if not drop:
        feature, slug = next(iter(sorted(missing.items())))
        raise InvalidRequestError(
            f"Approach {slug!r} does not support '{feature}' in the request. Remove it, choose "
            "another approach, or ask the operator to enable --drop-unsupported-features.",
            param=FIELDS.get(feature, ("messages",))[0],
            code="unsupported_feature",
        )
    body: dict[str, Any] = request.body()
    for feature in missing:
        for name in FIELDS.get(feature, ()):
            body.pop(name, None)
    if "images" in missing:
        body["messages"] = _without_media(request.messages)
    return ChatRequest.model_construct(**body), sorted(missing)
