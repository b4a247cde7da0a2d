"""Parameters of ``privacy`` and the rule for what a request may change.

Some parameters protect the operator's guarantees (which NER model is loaded, which entity types
are never masked); only the operator sets those, through flags, environment or TOML. A request may
make anonymization stricter (``require_ner``, a lower ``score_threshold``), never weaker.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from optillm_core import ConfigError, RequestContext, param
from optillm_core.config import resolve_config

#: Parameters a request may not change: a different value in the body is a 400.
OPERATOR_ONLY = ("ner_model", "language", "ignore_entities", "analyzer_threads")


class PrivacyConfig(BaseModel):
    """Parameters of ``privacy``."""

    model_config = ConfigDict(extra="forbid")

    ner_model: str = param(
        "en_core_web_lg",
        "spaCy model (installed package name or directory) used for PERSON/LOCATION/… NER. "
        "Never downloaded: when it is not installed, only the pattern recognizers and the name "
        "heuristic run. Operator only.",
    )
    require_ner: bool = param(
        False,
        "Refuse requests (503) when the NER model is not installed. A request may turn this on, "
        "never off.",
    )
    language: str = param("en", "Language code given to presidio. Operator only.")
    score_threshold: float = param(
        0.3,
        "Minimum presidio score for a detection to be masked. A request may lower it, never "
        "raise it.",
        ge=0.0,
        le=1.0,
    )
    ignore_entities: list[str] = param(
        ["DATE_TIME"],
        "Entity types that are never masked (comma-separated in flags and environment). "
        "Operator only.",
    )
    restore: bool = param(
        True,
        "Replace the placeholders in the answer by the original values (false: the client "
        "gets the placeholders).",
    )
    analyzer_threads: int = param(
        2, "Worker threads that may run presidio at once (per server). Operator only.", ge=1
    )

    @field_validator("ignore_entities", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().upper() for part in value.split(",") if part.strip()]
        return value


def operator_config(ctx: RequestContext) -> PrivacyConfig:
    """The configuration the operator set (defaults < server flags/env/TOML), without the body."""
    settings = ctx.state.settings
    options = settings.options_for(ctx.stage) if settings is not None else {}
    config, _ = resolve_config(ctx.stage, PrivacyConfig, options, {})
    assert isinstance(config, PrivacyConfig)
    return config


def effective_config(ctx: RequestContext) -> PrivacyConfig:
    """The request's configuration with the operator's guarantees enforced.

    Raises ``ConfigError`` (400) when the request changes an operator-only parameter.
    """
    requested: PrivacyConfig = ctx.config
    operator = operator_config(ctx)
    for name in OPERATOR_ONLY:
        if getattr(requested, name) != getattr(operator, name):
            raise ConfigError(
                f"Parameter {name!r} of {ctx.stage!r} can only be set by the server operator.",
                param=name,
            )
    return requested.model_copy(
        update={
            "require_ner": requested.require_ner or operator.require_ner,
            "score_threshold": min(requested.score_threshold, operator.score_threshold),
        }
    )
