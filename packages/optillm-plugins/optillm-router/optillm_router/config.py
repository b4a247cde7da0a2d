"""Parameters of ``router``, its label set, and what a request may change.

The classifier's source, device and fallback are the operator's choice (flags, environment,
TOML): they are ``operator_only``, so the core refuses a request that tries to change them with
a 400, and clients can neither make the server load another model nor turn a missing model
into a silent plain call.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from optillm_core import param

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

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


class RouterConfig(BaseModel):
    """Parameters of ``router``."""

    model_config = ConfigDict(extra="forbid")

    model_path: str = param(
        DEFAULT_MODEL,
        "Classifier: a Hugging Face hub id or a local directory holding model.safetensors "
        "(encoder + head), the tokenizer and, optionally, the encoder's config.json. Operator "
        "only.",
        operator_only=True,
    )
    base_model: str = param(
        DEFAULT_BASE_MODEL,
        "Where the encoder's config.json comes from when model_path has none (hub id or local "
        "directory; only the config is read, never its weights). Operator only.",
        operator_only=True,
    )
    cache_dir: str = param(
        "",
        "Hugging Face cache directory for hub downloads ('': the default). Operator only.",
        operator_only=True,
    )
    device: str = param(
        "auto",
        "Device of the classifier: auto, cpu, cuda, cuda:N or mps. Operator only.",
        operator_only=True,
    )
    max_length: int = param(
        1024,
        "Tokens of the prompt the classifier reads. Operator only.",
        ge=8,
        le=8192,
        operator_only=True,
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
        operator_only=True,
    )
    load_retry_seconds: float = param(
        60.0,
        "After a failed load, requests fail at once for this long before loading is tried "
        "again. Operator only.",
        ge=0.0,
        operator_only=True,
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
