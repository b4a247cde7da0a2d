"""A chat-completion body read into what the local engine needs, validated (errors are 400s).

The local upstream *is* the model server, so it consumes its own body keys here: ``decoding``,
``active_adapter``, ``decoding_stats`` and the chosen decoder's parameters go nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from optillm_core import InvalidRequestError
from optillm_core.config import body_keys

MAX_STOPS = 16
MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True)
class ModelRef:
    """``base[+adapter…]``: the base model id or path and its LoRA adapters, in order."""

    base: str
    adapters: tuple[str, ...] = ()

    @classmethod
    def parse(cls, model: str) -> ModelRef:
        """Split a model string on ``+``; the last adapter is the default active one."""
        parts = [p.strip() for p in model.split("+")]
        if not parts[0] or any(not p for p in parts):
            raise InvalidRequestError(f"Invalid model string {model!r}.", param="model")
        return cls(parts[0], tuple(parts[1:]))


@dataclass
class Sampling:
    """How the next token is chosen (OpenAI semantics; ``temperature == 0`` is greedy)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        """Whether decoding is deterministic argmax."""
        return self.temperature <= 0.0


@dataclass
class LocalRequest:
    """One request to the local engine, validated."""

    model: str
    ref: ModelRef
    messages: list[dict[str, Any]]
    n: int = 1
    max_tokens: int = 4096
    stop: list[str] = field(default_factory=list)
    sampling: Sampling = field(default_factory=Sampling)
    logprobs: bool = False
    top_logprobs: int = 0
    active_adapter: str | None = None
    decoding: str | None = None
    decoder: Any = None
    decoder_params: BaseModel | None = None
    decoding_stats: bool = False


def _number(body: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"{key} must be a number.", param=key)
    if not low <= float(value) <= high:
        raise InvalidRequestError(f"{key} must be between {low:g} and {high:g}.", param=key)
    return float(value)


def _integer(body: Mapping[str, Any], key: str, low: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(f"{key} must be an integer.", param=key)
    if value < low:
        raise InvalidRequestError(f"{key} must be at least {low}.", param=key)
    return value


def _stops(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise InvalidRequestError("stop must be a string or a list of strings.", param="stop")
    if len(stops) > MAX_STOPS:
        raise InvalidRequestError(f"stop takes at most {MAX_STOPS} strings.", param="stop")
    return [s for s in stops if s]


def _logit_bias(value: Any) -> dict[int, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequestError("logit_bias must map token ids to numbers.", param="logit_bias")
    bias: dict[int, float] = {}
    for key, amount in value.items():
        try:
            token = int(key)
        except (TypeError, ValueError):
            raise InvalidRequestError(
                f"logit_bias key {key!r} is not a token id.", param="logit_bias"
            ) from None
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise InvalidRequestError("logit_bias values must be numbers.", param="logit_bias")
        bias[token] = max(-100.0, min(100.0, float(amount)))
    return bias


def _check_unsupported(body: Mapping[str, Any]) -> None:
    if body.get("tools") or body.get("functions"):
        raise InvalidRequestError(
            "The local engine does not support tools; use a server with tool calling.",
            param="tools",
        )
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") not in (None, "text"):
        raise InvalidRequestError(
            "The local engine does not support response_format other than text.",
            param="response_format",
        )
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") not in ("text", "input_text"):
                    raise InvalidRequestError(
                        f"messages[{i}] has a {part.get('type')!r} part; the local engine "
                        "reads text only.",
                        param="messages",
                    )


def _decoder_params(decoder: Any, name: str, body: Mapping[str, Any]) -> BaseModel | None:
    params_model: type[BaseModel] | None = getattr(decoder, "Params", None)
    if params_model is None:
        return None
    keys = body_keys(params_model)
    data = {keys[k]: v for k, v in body.items() if k in keys and v is not None}
    try:
        return params_model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or name
        raise InvalidRequestError(
            f"Invalid parameter {where!r} for decoder {name!r}: {first.get('msg')}", param=where
        ) from exc


def parse_request(
    body: Mapping[str, Any], decoders: Mapping[str, Any], default_max_tokens: int
) -> LocalRequest:
    """Read and validate a chat-completion body for the local engine."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model is required.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list.", param="messages")
    _check_unsupported(body)
    top_logprobs = _integer(body, "top_logprobs", 0) or 0
    if top_logprobs > MAX_TOP_LOGPROBS:
        raise InvalidRequestError(
            f"top_logprobs must be at most {MAX_TOP_LOGPROBS}.", param="top_logprobs"
        )
    logprobs = bool(body.get("logprobs"))
    if body.get("top_logprobs") is not None and not logprobs:
        raise InvalidRequestError("top_logprobs needs logprobs: true.", param="top_logprobs")
    max_tokens = _integer(body, "max_completion_tokens", 1) or _integer(body, "max_tokens", 1)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidRequestError("seed must be an integer.", param="seed")
    sampling = Sampling(
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        top_k=_integer(body, "top_k", 0) or 0,
        min_p=_number(body, "min_p", 0.0, 0.0, 1.0),
        frequency_penalty=_number(body, "frequency_penalty", 0.0, -2.0, 2.0),
        presence_penalty=_number(body, "presence_penalty", 0.0, -2.0, 2.0),
        logit_bias=_logit_bias(body.get("logit_bias")),
        seed=seed,
    )
    if sampling.top_p == 0.0:
        sampling.temperature = 0.0
    active = body.get("active_adapter")
    if active is not None and not isinstance(active, str):
        raise InvalidRequestError("active_adapter must be a string.", param="active_adapter")
    request = LocalRequest(
        model=model,
        ref=ModelRef.parse(model),
        messages=messages,
        n=_integer(body, "n", 1) or 1,
        max_tokens=max_tokens or default_max_tokens,
        stop=_stops(body.get("stop")),
        sampling=sampling,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        active_adapter=active or None,
        decoding_stats=bool(body.get("decoding_stats")),
    )
    decoding = body.get("decoding")
    if decoding is not None:
        if not isinstance(decoding, str) or decoding not in decoders:
            known = ", ".join(sorted(decoders)) or "none installed"
            raise InvalidRequestError(
                f"Unknown decoding {decoding!r}; available: {known}.",
                param="decoding",
                code="unknown_decoding",
            )
        request.decoding = decoding
        request.decoder = decoders[decoding]
        request.decoder_params = _decoder_params(request.decoder, decoding, body)
    return request
