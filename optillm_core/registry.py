"""The frozen registries the hooks fill: slug → stage, name → upstream, decoders, middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .approach import Approach, Processor, Stage
from .errors import PluginError
from .plan import SLUG_PATTERN
from .plugins import PluginInfo, PluginManager
from .upstream.base import UpstreamSpec

logger = logging.getLogger(__name__)


class DuplicateError(PluginError):
    """Two plugins registered the same slug or name."""


@dataclass(frozen=True)
class Registry:
    """What the installed plugins contribute; built once per app, read-only afterwards."""

    approaches: Mapping[str, Approach] = field(default_factory=dict)
    processors: Mapping[str, Processor] = field(default_factory=dict)
    decoders: Mapping[str, Any] = field(default_factory=dict)
    upstreams: Mapping[str, UpstreamSpec] = field(default_factory=dict)
    middleware: tuple[Callable[..., Any], ...] = ()
    #: slug or name → the plugin name that registered it
    owners: Mapping[str, str] = field(default_factory=dict)

    @property
    def stages(self) -> dict[str, Stage]:
        """Approaches and processors by slug."""
        return {**self.approaches, **self.processors}

    @property
    def slugs(self) -> frozenset[str]:
        """Every selectable slug."""
        return frozenset(self.approaches) | frozenset(self.processors)


class _Collector:
    def __init__(self, pm: PluginManager, strict: bool) -> None:
        self.pm = pm
        self.strict = strict
        self.tables: dict[str, dict[str, Any]] = {
            "approaches": {},
            "processors": {},
            "decoders": {},
            "upstreams": {},
        }
        self.owners: dict[str, str] = {}
        self.middleware: list[Callable[..., Any]] = []

    def _dist(self, plugin_name: str) -> str:
        info = self.pm.origins.get(plugin_name)
        return info.distribution if info else plugin_name

    def add(self, table: str, key: str, obj: Any, plugin_name: str) -> None:
        namespace = "stage" if table in ("approaches", "processors") else table
        owner_key = key if namespace == "stage" else f"{namespace}:{key}"
        if owner_key in self.owners:
            raise DuplicateError(
                f"{namespace} {key!r} is registered twice: by {self._dist(self.owners[owner_key])} "
                f"and by {self._dist(plugin_name)}"
            )
        self.owners[owner_key] = plugin_name
        self.tables[table][key] = obj

    def register_stage(self, obj: Any, plugin_name: str, kind: type[Stage]) -> None:
        if not isinstance(obj, kind):
            raise PluginError(f"{plugin_name} registered {obj!r}, which is not a {kind.__name__}")
        slug = getattr(obj, "slug", "")
        if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
            raise PluginError(f"{plugin_name} registered an invalid slug {slug!r}")
        self.add("approaches" if kind is Approach else "processors", slug, obj, plugin_name)

    def callback(self, hook: str, plugin_name: str) -> Callable[[Any], None]:
        def register(obj: Any) -> None:
            if hook == "register_approaches":
                self.register_stage(obj, plugin_name, Approach)
            elif hook == "register_processors":
                self.register_stage(obj, plugin_name, Processor)
            elif hook == "register_decoders":
                self.add("decoders", str(obj.name), obj, plugin_name)
            elif hook == "register_upstreams":
                if not isinstance(obj, UpstreamSpec):
                    raise PluginError(f"{plugin_name} registered {obj!r}, not an UpstreamSpec")
                self.add("upstreams", obj.name, obj, plugin_name)
            elif hook == "register_middleware":
                self.middleware.append(obj)

        return register

    def commit(self, hook: str, plugin_name: str, objects: list[Any]) -> None:
        """Register a hook's objects all together, or none of them if one is invalid."""
        saved = (
            {k: dict(v) for k, v in self.tables.items()},
            dict(self.owners),
            list(self.middleware),
        )
        register = self.callback(hook, plugin_name)
        try:
            for obj in objects:
                register(obj)
        except PluginError:
            self.tables, self.owners, self.middleware = saved
            raise

    def run(self, hook: str) -> None:
        caller = getattr(self.pm.hook, hook)
        # pluggy orders impls last-registered-first; we want registration order.
        for impl in reversed(caller.get_hookimpls()):
            pending: list[Any] = []
            try:
                impl.function(register=pending.append)
                self.commit(hook, impl.plugin_name, pending)
            except DuplicateError:
                raise  # two distributions claim one name: the operator must choose
            except Exception as exc:
                info = self.pm.origins.get(impl.plugin_name)
                message = f"{hook} of plugin {impl.plugin_name!r} failed: {exc}"
                if self.strict:
                    raise PluginError(message) from exc
                logger.warning(message)
                self.pm.failures.append(
                    PluginInfo(
                        impl.plugin_name,
                        info.distribution if info else "?",
                        info.version if info else "",
                        f"{type(exc).__name__}: {exc}",
                    )
                )


HOOKS = (
    "register_approaches",
    "register_processors",
    "register_decoders",
    "register_upstreams",
    "register_middleware",
)


def build_registry(pm: PluginManager, *, strict: bool = False) -> Registry:
    """Call every registration hook once and freeze what they registered."""
    collector = _Collector(pm, strict)
    for hook in HOOKS:
        collector.run(hook)
    tables = collector.tables
    return Registry(
        approaches=MappingProxyType(tables["approaches"]),
        processors=MappingProxyType(tables["processors"]),
        decoders=MappingProxyType(tables["decoders"]),
        upstreams=MappingProxyType(tables["upstreams"]),
        middleware=tuple(collector.middleware),
        owners=MappingProxyType(dict(collector.owners)),
    )
