"""Parameters of ``privacy`` and the rule for what a request may change.

Some parameters protect the operator's guarantees (which NER model is loaded, which entity types
are never masked); only the operator sets those, through flags, environment or TOML (they are
``operator_only``: the core refuses a request that changes them with a 400). A request may make
anonymization stricter (``require_ner``, a lower ``score_threshold``), never weaker.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from optillm_core import RequestContext, param


class PrivacyConfig(BaseModel):
    """Parameters of ``privacy``."""

    model_config = ConfigDict(extra="forbid")

    ner_model: str = param(
        "en_core_web_lg",
        "spaCy model (installed package name or directory) used for PERSON/LOCATION/… NER. "
        "Never downloaded: when it is not installed, only the pattern recognizers and the name "
        "heuristic run. Operator only.",
        operator_only=True,
    )
    require_ner: bool = param(
        False,
        "Refuse requests (503) when the NER model is not installed. A request may turn this on, "
        "never off.",
    )
    language: str = param(
        "en", "Language code given to presidio. Operator only.", operator_only=True
    )
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
        operator_only=True,
    )
    restore: bool = param(
        True,
        "Replace the placeholders in the answer by the original values (false: the client "
        "gets the placeholders).",
    )
    analyzer_threads: int = param(
        2,
        "Worker threads that may run presidio at once (per server). Operator only.",
        operator_only=True,
        ge=1,
    )

    @field_validator("ignore_entities", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().upper() for part in value.split(",") if part.strip()]
        return value


def effective_config(ctx: RequestContext) -> PrivacyConfig:
    """The request's configuration, never weaker than the operator's: ``require_ner`` stays on
    when the operator turned it on, ``score_threshold`` is at most the operator's."""
    requested: PrivacyConfig = ctx.config
    operator: PrivacyConfig = ctx.operator_config()
    return requested.model_copy(
        update={
            "require_ner": requested.require_ner or operator.require_ner,
            "score_threshold": min(requested.score_threshold, operator.score_threshold),
        }
    )
