"""Stage parameters: reference aliases, and validation of defaults < server < request body."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from .errors import ConfigError


def param(
    default: Any,
    description: str = "",
    *,
    aliases: Iterable[str] = (),
    flags: Iterable[str] = (),
    env: Iterable[str] = (),
    operator_only: bool = False,
    **constraints: Any,
) -> Any:
    """A config-model field with the reference's spellings.

    :param aliases: extra flat request-body keys (``mcts_simulations`` for ``simulations``).
    :param flags: extra command-line flags (``--best-of-n``).
    :param env: extra environment variables (``OPTILLM_BEST_OF_N``).
    :param operator_only: only the server may set it (paths, hosts, limits that guard safety);
        a request that sends a different value gets a 400.
    """
    extra: dict[str, Any] = {"aliases": list(aliases), "flags": list(flags), "env": list(env)}
    if operator_only:
        extra["operator_only"] = True
    return Field(default, description=description, json_schema_extra=extra, **constraints)


_MISSING = object()


def _extra(field_info: Any, key: str) -> list[str]:
    extra = field_info.json_schema_extra
    return list(extra.get(key, [])) if isinstance(extra, dict) else []


def body_keys(model: type[BaseModel]) -> dict[str, str]:
    """Flat request-body key → field name, for every field and alias of a config model."""
    keys: dict[str, str] = {}
    for name, info in model.model_fields.items():
        keys[name] = name
        for alias in _extra(info, "aliases"):
            keys[alias] = name
    return keys


def flag_aliases(model: type[BaseModel], field_name: str) -> list[str]:
    """The reference's extra flags of a field."""
    return _extra(model.model_fields[field_name], "flags")


def env_aliases(model: type[BaseModel], field_name: str) -> list[str]:
    """The reference's extra environment variables of a field."""
    return _extra(model.model_fields[field_name], "env")


def _refuse_operator_fields(
    slug: str,
    model: type[BaseModel],
    operator: Mapping[str, Any],
    config: BaseModel,
    sent: set[str],
) -> None:
    """A request may repeat an operator-only value (in any spelling that validates the same),
    never change it."""
    guarded = [n for n in sent if _extra_flag(model.model_fields[n], "operator_only")]
    if not guarded:
        return
    server = model.model_validate(operator)
    for name in guarded:
        if getattr(config, name) != getattr(server, name):
            raise ConfigError(
                f"Parameter {name!r} of {slug!r} is set by the server operator only.", param=name
            )


def _extra_flag(field_info: Any, key: str) -> bool:
    extra = field_info.json_schema_extra
    return bool(extra.get(key)) if isinstance(extra, dict) else False


def resolve_config(
    slug: str,
    model: type[BaseModel],
    server_options: Mapping[str, Any],
    body: Mapping[str, Any],
) -> tuple[BaseModel, set[str]]:
    """Validate a stage's config; return it and the flat body keys it consumed.

    Precedence: model defaults < server options < flat body keys < ``body["optillm"][slug]``.
    """
    keys = body_keys(model)
    data: dict[str, Any] = {keys.get(k, k): v for k, v in server_options.items()}
    operator = dict(data)
    consumed: set[str] = set()
    for key, value in body.items():
        if key in keys:
            data[keys[key]] = value
            consumed.add(key)
    nested = body.get("optillm")
    if isinstance(nested, Mapping) and isinstance(nested.get(slug), Mapping):
        data.update({keys.get(k, k): v for k, v in nested[slug].items()})
    sent = {
        name
        for name in data
        if name in model.model_fields and data[name] is not operator.get(name, _MISSING)
    }
    try:
        config = model.model_validate(data)
        _refuse_operator_fields(slug, model, operator, config, sent)
        return config, consumed
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or slug
        raise ConfigError(
            f"Invalid parameter {where!r} for approach {slug!r}: {first.get('msg')}", param=where
        ) from exc
