"""Flags and environment variables derived from the installed stages' config models."""

from __future__ import annotations

from pydantic import BaseModel

from .config import env_aliases, flag_aliases
from .registry import Registry


def config_models(registry: Registry) -> list[tuple[str, type[BaseModel]]]:
    """(slug or upstream name, config model) of every stage and every upstream with options."""
    models: list[tuple[str, type[BaseModel]]] = [
        (slug, stage.Config) for slug, stage in sorted(registry.stages.items())
    ]
    models += [
        (name, spec.config)
        for name, spec in sorted(registry.upstreams.items())
        if spec.config is not None
    ]
    return models


def plugin_flag_table(registry: Registry) -> dict[str, tuple[list[str], str]]:
    """``plugin:<slug>.<field>`` → (flags, help) for every stage and upstream config field."""
    table: dict[str, tuple[list[str], str]] = {}
    seen: set[str] = set()
    for slug, config in config_models(registry):
        for name, info in config.model_fields.items():
            flags = [f"--{slug}-{name}".replace("_", "-"), *flag_aliases(config, name)]
            flags = [f for f in flags if f not in seen]
            seen.update(flags)
            if flags:
                default = info.default
                table[f"plugin:{slug}.{name}"] = (
                    flags,
                    f"{info.description or name} (default {default!r})",
                )
    return table


def plugin_env_names(registry: Registry) -> dict[str, tuple[str, ...]]:
    """``<slug>.<field>`` → environment variables, the derived name first."""
    return {
        f"{slug}.{name}": (f"OPTILLM_{slug}_{name}".upper(), *env_aliases(config, name))
        for slug, config in config_models(registry)
        for name in config.model_fields
    }
