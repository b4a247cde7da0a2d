"""Plugin loading: entry points, single-file user plugins and programmatic registration.

``make_plugin_manager()`` builds a fresh manager every time — there is no global one. A plugin
whose import fails is logged and remembered with its error (``pm.failures``), or raises
``PluginError`` when ``strict`` is set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError

logger = logging.getLogger(__name__)

BUILTIN_NAME = "builtin"


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as ``optillm plugins`` lists it."""

    name: str
    distribution: str
    version: str
    error: str | None = None


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers where each plugin came from and what failed."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, PluginInfo] = {}
        self.failures: list[PluginInfo] = []

    def register_plugin(
        self, plugin: object, name: str | None = None, distribution: str = "", version: str = ""
    ) -> str:
        """Register ``plugin`` and record its distribution (defaults: its module's package)."""
        registered = self.register(plugin, name=name)
        if registered is None:
            raise PluginError(f"plugin {name or plugin!r} is blocked or already registered")
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        self.origins[registered] = PluginInfo(
            name=registered, distribution=distribution or module.split(".")[0], version=version
        )
        return registered

    def origin(self, plugin: object) -> PluginInfo:
        """Where a registered plugin object came from."""
        name = self.get_name(plugin) or repr(plugin)
        return self.origins.get(name, PluginInfo(name, name, ""))


def _wanted(name: str, load: Iterable[str] | None, disabled: Iterable[str]) -> bool:
    load_set = set(load) if load else None
    return name not in set(disabled) and (load_set is None or name in load_set)


def _fail(pm: PluginManager, info: PluginInfo, strict: bool) -> None:
    if strict:
        raise PluginError(
            f"plugin {info.name!r} ({info.distribution}) failed to load: {info.error}"
        )
    logger.warning("plugin %s (%s) failed to load: %s", info.name, info.distribution, info.error)
    pm.failures.append(info)


def load_entry_points(
    pm: PluginManager, *, load: Iterable[str] | None, disabled: Iterable[str], strict: bool
) -> None:
    """Register every ``optillm.plugins`` entry point that the allow/block lists admit."""
    for ep in metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else ""
        if not _wanted(ep.name, load, disabled) or pm.has_plugin(ep.name):
            continue
        try:
            pm.register_plugin(ep.load(), name=ep.name, distribution=dist, version=version)
        except Exception as exc:  # one broken plugin must not take the server down
            _fail(pm, PluginInfo(ep.name, dist, version, f"{type(exc).__name__}: {exc}"), strict)


def load_directory(
    pm: PluginManager,
    directory: str,
    *,
    load: Iterable[str] | None,
    disabled: Iterable[str],
    strict: bool,
) -> None:
    """Register every ``*.py`` file of ``directory`` as a plugin named after the file."""
    for path in sorted(Path(directory).expanduser().glob("*.py")):
        name = path.stem
        if not _wanted(name, load, disabled) or pm.has_plugin(name):
            continue
        digest = hashlib.sha256(str(path.resolve().parent).encode()).hexdigest()[:8]
        module_name = f"optillm_user_plugins.d{digest}.{name}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            pm.register_plugin(module, name=name, distribution=str(path))
        except Exception as exc:
            sys.modules.pop(module_name, None)
            _fail(pm, PluginInfo(name, str(path), "", f"{type(exc).__name__}: {exc}"), strict)


def make_plugin_manager(
    autoload: bool = True,
    *,
    plugins: Iterable[object] = (),
    load: Iterable[str] | None = None,
    disabled: Iterable[str] = (),
    strict: bool = False,
    plugins_dir: str = "",
    builtins: bool = True,
) -> PluginManager:
    """A fresh plugin manager with the built-ins, ``plugins``, entry points and a plugin dir.

    :param autoload: load the ``optillm.plugins`` entry points.
    :param plugins: objects or modules with ``@hookimpl`` functions, registered first.
    :param load: allow list of plugin names (``None``: all).
    :param disabled: block list of plugin names.
    :param strict: raise ``PluginError`` instead of logging a plugin that fails to load.
    :param plugins_dir: a directory of single-file plugins.
    """
    pm = PluginManager()
    if builtins:
        from . import builtin

        pm.register_plugin(
            builtin,
            name=BUILTIN_NAME,
            distribution="optillm-core",
            version=_version("optillm-core"),
        )
    for plugin in plugins:
        pm.register_plugin(plugin)
    if autoload:
        load_entry_points(pm, load=load, disabled=disabled, strict=strict)
    if plugins_dir:
        load_directory(pm, plugins_dir, load=load, disabled=disabled, strict=strict)
    pm.check_pending()
    return pm


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def list_plugins(pm: PluginManager) -> list[PluginInfo]:
    """Loaded plugins followed by the ones that failed."""
    return [*pm.origins.values(), *pm.failures]


def describe_plugins(pm: PluginManager, registry: Any) -> list[dict[str, Any]]:
    """JSON-ready rows for ``optillm plugins``: name, distribution, version, slugs, error."""
    rows = []
    for info in list_plugins(pm):
        owned = [key for key, owner in registry.owners.items() if owner == info.name]
        slugs = sorted(key for key in owned if ":" not in key)
        upstreams = sorted(key.split(":", 1)[1] for key in owned if key.startswith("upstreams:"))
        rows.append({**info.__dict__, "slugs": slugs, "upstreams": upstreams})
    return rows
