"""The ``optillm`` command: ``serve`` (also bare ``optillm``), ``plugins``, ``config`` and
whatever plugins add through ``register_commands``.

Options that decide which plugins load are read first; then the plugins' config models add their
own ``--<slug>-<field>`` flags and everything is parsed.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import OptillmError, PluginError
from .plugins import PluginManager, describe_plugins
from .registry import Registry, build_registry
from .server.app import create_app, plugin_manager_for
from .settings import Settings, build_settings, core_fields, env_names, flag_names
from .settings_plugins import plugin_env_names, plugin_flag_table

logger = logging.getLogger("optillm")
BUILTIN_COMMANDS = ("serve", "plugins", "config")


def _core_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("server options")
    for f in core_fields():
        if f.metadata.get("env_only"):
            continue
        names = flag_names(f)
        help_text = f"{f.metadata['help']} (env {env_names(f)[0]})"
        if f.type in (bool, "bool"):
            group.add_argument(
                *names,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(*names, dest=f.name, default=argparse.SUPPRESS, help=help_text)
    group.add_argument("--version", action="version", version=f"optillm-core {_version()}")
    return parser


def _plugin_parser(registry: Registry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("approach and plugin options")
    for dest, (flags, help_text) in plugin_flag_table(registry).items():
        group.add_argument(
            *flags, dest=dest, default=argparse.SUPPRESS, nargs="?", const="true", help=help_text
        )
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("optillm-core")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _bootstrap(argv: Sequence[str], env: dict[str, str]) -> Settings:
    """Settings from the core flags alone (enough to load plugins)."""
    known, _ = _core_parser().parse_known_args(argv)
    return build_settings(vars(known), env=env)


def _split(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    core: dict[str, Any] = {}
    plugin: dict[str, dict[str, Any]] = {}
    for key, value in args.items():
        if key.startswith("plugin:"):
            slug, _, name = key[len("plugin:") :].partition(".")
            plugin.setdefault(slug, {})[name] = value
        elif key not in ("command", "func", "json"):
            core[key] = value
    return core, plugin


def build_parser(registry: Registry, pm: PluginManager) -> argparse.ArgumentParser:
    """The full parser: every subcommand with the core and plugin flags."""
    parents = [_core_parser(), _plugin_parser(registry)]
    parser = argparse.ArgumentParser(prog="optillm", description=__doc__, parents=parents)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", parents=parents, help="Start the proxy (the default).")
    listing = sub.add_parser("plugins", parents=parents, help="List installed plugins.")
    listing.add_argument("--json", action="store_true", help="Print JSON.")
    sub.add_parser("config", parents=parents, help="Print the effective configuration.")
    pm.hook.register_commands(subparsers=sub)
    return parser


def _command_names(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def setup_logging(level: str) -> None:
    """Root logging for the server process; every line carries a request id (``-`` if none)."""

    class RequestIdFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if not hasattr(record, "request_id"):
                record.request_id = "-"
            return True

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def check_binding(settings: Settings) -> None:
    """Refuse to serve a non-loopback address without an API key unless explicitly allowed."""
    host = settings.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not settings.optillm_api_key and not settings.allow_unauthenticated:
        raise OptillmError(
            f"Refusing to bind {host} without an API key: set --optillm-api-key "
            "(OPTILLM_API_KEY) or pass --allow-unauthenticated."
        )


def serve(settings: Settings, pm: PluginManager) -> int:
    """Run the server until interrupted (see ``server.runner`` for workers and draining)."""
    from .server.runner import run

    check_binding(settings)
    app = create_app(settings, plugin_manager=pm) if settings.workers <= 1 else None
    logger.info("optillm listening on http://%s:%s/v1", settings.host, settings.port)
    run(settings, app)
    return 0


def print_plugins(pm: PluginManager, registry: Registry, as_json: bool) -> int:
    """``optillm plugins``."""
    rows = describe_plugins(pm, registry)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = f"ERROR {row['error']}" if row["error"] else ", ".join(row["slugs"]) or "-"
        print(f"{row['name']:<20} {row['distribution']:<28} {row['version']:<10} {status}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``optillm`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ)
    try:
        boot = _bootstrap(argv, env)
        setup_logging(boot.log)
        pm = plugin_manager_for(boot)
        registry = build_registry(pm, strict=boot.strict_plugins)
        parser = build_parser(registry, pm)
        commands = _command_names(parser)
        if not argv or argv[0] not in commands:
            argv = ["serve", *argv]
        args = vars(parser.parse_args(argv))
        core, plugin_flags = _split(args)
        settings = build_settings(
            core, env=env, plugin_flags=plugin_flags, plugin_env=plugin_env_names(registry)
        )
        command = args.get("command") or "serve"
        if command == "serve":
            return serve(settings, pm)
        if command == "plugins":
            return print_plugins(pm, registry, bool(args.get("json")))
        if command == "config":
            print(json.dumps(settings.redacted(), indent=2, default=str))
            return 0
        func: Callable[..., int] | None = args.get("func")
        return func(argparse.Namespace(**args, settings=settings)) if func else 0
    except (OptillmError, PluginError) as exc:
        print(f"optillm: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]
