"""Flags and environment variables derived from the installed stages' config models."""

from __future__ import annotations

from .config import env_aliases, flag_aliases
from .registry import Registry


def plugin_flag_table(registry: Registry) -> dict[str, tuple[list[str], str]]:
    """``plugin:<slug>.<field>`` → (flags, help) for every stage config field."""
    table: dict[str, tuple[list[str], str]] = {}
    seen: set[str] = set()
    for slug, stage in sorted(registry.stages.items()):
        for name, info in stage.Config.model_fields.items():
            flags = [f"--{slug}-{name}".replace("_", "-"), *flag_aliases(stage.Config, name)]
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
        f"{slug}.{name}": (f"OPTILLM_{slug}_{name}".upper(), *env_aliases(stage.Config, name))
        for slug, stage in registry.stages.items()
        for name in stage.Config.model_fields
    }
