"""Parameters of ``router``, its label set, and what a request may change.

The classifier's source, device and fallback are the operator's choice (flags, environment,
TOML): a request that tries to change them gets a 400, so clients can neither make the server
load another model nor turn a missing model into a silent plain call.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from optillm_core import ConfigError, RequestContext, param
from optillm_core.config import resolve_config

#: The classifier's output positions, in the reference model's order. Never reorder.
LABELS: tuple[str, ...] = (
    "none",
    "mcts",
    "bon",
    "moa",
    "rto",
    "z3",
    "self_consistency",
    "pvg",
    "rstar",
    "cot_reflection",
    "plansearch",
    "leap",
    "re2",
)

#: Labels whose approach executes code, with the reason they are never routed to.
NOT_ROUTED: dict[str, str] = {"z3": "executes code, never run for a routed request"}

DEFAULT_MODEL = "codelion/optillm-modernbert-large"
DEFAULT_BASE_MODEL = "answerdotai/ModernBERT-large"

#: Parameters only the operator may set; a different value in the request is a 400.
OPERATOR_ONLY = (
    "model_path",
    "base_model",
    "cache_dir",
    "device",
    "max_length",
    "fallback",
    "load_retry_seconds",
)

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


class RouterConfig(BaseModel):
    """Parameters of ``router``."""

    model_config = ConfigDict(extra="forbid")

    model_path: str = param(
        DEFAULT_MODEL,
        "Classifier: a Hugging Face hub id or a local directory holding model.safetensors "
        "(encoder + head), the tokenizer and, optionally, the encoder's config.json. Operator "
        "only.",
    )
    base_model: str = param(
        DEFAULT_BASE_MODEL,
        "Where the encoder's config.json comes from when model_path has none (hub id or local "
        "directory; only the config is read, never its weights). Operator only.",
    )
    cache_dir: str = param(
        "", "Hugging Face cache directory for hub downloads ('': the default). Operator only."
    )
    device: str = param(
        "auto", "Device of the classifier: auto, cpu, cuda, cuda:N or mps. Operator only."
    )
    max_length: int = param(
        1024, "Tokens of the prompt the classifier reads. Operator only.", ge=8, le=8192
    )
    effort: float = param(
        0.7,
        "The classifier's scalar 'effort' input (0 = cheapest technique, 1 = most thorough; "
        "the reference always uses 0.7).",
        ge=0.0,
        le=1.0,
    )
    fallback: str = param(
        "",
        "Approach to run when the classifier cannot be loaded ('': refuse the request with "
        "a 503). Operator only.",
    )
    load_retry_seconds: float = param(
        60.0,
        "After a failed load, requests fail at once for this long before loading is tried "
        "again. Operator only.",
        ge=0.0,
    )

    @field_validator("fallback")
    @classmethod
    def _check_fallback(cls, value: str) -> str:
        value = value.strip()
        if value and not _SLUG.match(value):
            raise ValueError(f"not an approach slug: {value!r}")
        if value == "router":
            raise ValueError("the router cannot fall back to itself")
        if value in NOT_ROUTED:
            raise ValueError(f"{value!r} {NOT_ROUTED[value]}")
        return value


def operator_config(ctx: RequestContext) -> RouterConfig:
    """The configuration the operator set (defaults < server flags/env/TOML), without the body."""
    settings = ctx.state.settings
    options = settings.options_for(ctx.stage) if settings is not None else {}
    config, _ = resolve_config(ctx.stage, RouterConfig, options, {})
    assert isinstance(config, RouterConfig)
    return config


def effective_config(ctx: RequestContext) -> RouterConfig:
    """The request's configuration; a 400 when it changes an operator-only parameter."""
    requested: RouterConfig = ctx.config
    operator = operator_config(ctx)
    for name in OPERATOR_ONLY:
        if getattr(requested, name) != getattr(operator, name):
            raise ConfigError(
                f"Parameter {name!r} of {ctx.stage!r} can only be set by the server operator.",
                param=name,
            )
    return requested
