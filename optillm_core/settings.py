"""Server settings: flags > environment > TOML file > defaults, read once and passed down.

This is the only module that reads the environment. Every core option is a dataclass field whose
metadata names its flag and environment aliases (the reference's spellings included); every
plugin config field gets ``--<slug>-<field>``, ``OPTILLM_<SLUG>_<FIELD>`` and a ``[<slug>]`` TOML
section, see ``plugin_option_names``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_MARK = "***"


def _opt(
    default: Any,
    help: str,
    *,
    flags: Sequence[str] = (),
    env: Sequence[str] = (),
    secret: bool = False,
    env_only: bool = False,
) -> Any:
    meta = {
        "help": help,
        "flags": tuple(flags),
        "env": tuple(env),
        "secret": secret,
        "env_only": env_only,
    }
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with. Build with ``Settings(...)`` or ``load_settings``."""

    host: str = _opt("127.0.0.1", "Address to bind.")
    port: int = _opt(8000, "Port to listen on.")
    approach: str = _opt("auto", "Plan used when the request selects none ('auto': passthrough).")
    model: str = _opt("gpt-4o-mini", "Default model when a request names none.")
    base_url: str = _opt("", "Base URL of an OpenAI-compatible upstream.", flags=("--base_url",))
    upstream: str = _opt("", "Upstream provider name (openai, azure, litellm, local, …).")
    n: int = _opt(1, "Default n of a request.")
    optillm_api_key: str = _opt(
        "", "Key clients must send as 'Authorization: Bearer'.", secret=True
    )
    openai_api_key: str = _opt(
        "", "API key for the openai upstream.", env=("OPENAI_API_KEY",), secret=True, env_only=True
    )
    azure_openai_api_key: str = _opt(
        "", "Azure OpenAI key.", env=("AZURE_OPENAI_API_KEY",), secret=True, env_only=True
    )
    azure_api_version: str = _opt(
        "", "Azure API version.", env=("AZURE_API_VERSION",), env_only=True
    )
    azure_api_base: str = _opt("", "Azure endpoint.", env=("AZURE_API_BASE",), env_only=True)
    return_full_response: bool = _opt(False, "cot_reflection: return the whole reasoning.")
    log: str = _opt("info", "Log level (debug, info, warning, error, critical).")
    ssl_verify: bool = _opt(True, "Verify the upstream's TLS certificate.")
    ssl_cert_path: str = _opt("", "CA bundle for the upstream's TLS certificate.")
    plugins_dir: str = _opt("", "Directory of single-file user plugins (*.py).")
    strict_plugins: bool = _opt(False, "Fail at start-up when a plugin cannot be loaded.")
    load_plugins: list[str] = _opt([], "Only load these plugins (comma-separated names).")
    disabled_plugins: list[str] = _opt([], "Never load these plugins (comma-separated names).")
    allowed_approaches: list[str] = _opt([], "Slugs clients may select (empty: all).")
    log_conversations: bool = _opt(False, "Write JSONL records of every request.")
    conversation_log_dir: str = _opt("~/.optillm/conversations", "Where conversation logs go.")
    max_body_bytes: int = _opt(16 * 1024 * 1024, "Largest accepted request body.")
    max_n: int = _opt(16, "Largest n a request may ask for.")
    max_stages: int = _opt(8, "Most stages in one plan.")
    max_upstream_calls: int = _opt(512, "Most upstream calls per request (0: unlimited).")
    max_request_tokens: int = _opt(0, "Most upstream tokens per request (0: unlimited).")
    request_timeout: float = _opt(600.0, "Wall-clock seconds a request may take.")
    max_concurrent_requests: int = _opt(256, "Requests served at once; more get 503.")
    keepalive_interval: float = _opt(15.0, "Seconds between SSE keep-alive comments.")
    upstream_timeout: float = _opt(600.0, "Seconds to wait for one upstream response.")
    upstream_idle_timeout: float = _opt(
        300.0, "Seconds a streaming upstream response may send nothing (0: upstream timeout)."
    )
    upstream_max_retries: int = _opt(2, "Retries of failed upstream calls (the only retry layer).")
    forward_client_key: bool = _opt(False, "Use a client's x-upstream-api-key for its requests.")
    allow_unauthenticated: bool = _opt(False, "Allow a non-loopback bind without an API key.")
    allow_code_by_tag: bool = _opt(
        False, "Code-executing approaches may be selected by an <optillm_approach> tag."
    )
    allow_user_code: bool = _opt(False, "executecode may run code supplied in the request.")
    sandbox_allow_no_network_isolation: bool = _opt(
        False, "Run sandboxed code even where it cannot be cut off the network."
    )
    workers: int = _opt(1, "Worker processes serving one port.")
    drain_grace: float = _opt(3.0, "Seconds not-ready before a shutdown stops accepting.")
    drain_timeout: float = _opt(30.0, "Seconds in-flight requests get to finish on shutdown.")
    drop_unsupported_features: bool = _opt(
        False, "Drop request features an approach cannot honour instead of a 400."
    )
    config: str = _opt("", "TOML config file.")
    plugin_options: dict[str, dict[str, Any]] = _opt({}, "Per-slug plugin options.")

    def options_for(self, slug: str) -> dict[str, Any]:
        """Server-level parameters for one plugin stage."""
        return dict(self.plugin_options.get(slug, {}))

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets replaced by ``***``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = SECRET_MARK if f.metadata.get("secret") and value else value
        return out


def core_fields() -> list[dataclasses.Field[Any]]:
    """The core option fields (everything but plugin options)."""
    return [f for f in dataclasses.fields(Settings) if f.name != "plugin_options"]


def flag_names(f: dataclasses.Field[Any]) -> list[str]:
    """The command-line spellings of a core option."""
    return [f"--{f.name.replace('_', '-')}", *f.metadata.get("flags", ())]


def env_names(f: dataclasses.Field[Any]) -> list[str]:
    """The environment variables of a core option, first match wins."""
    if f.metadata.get("env_only"):
        return list(f.metadata["env"])
    name = f.name.upper()
    return [name if name.startswith("OPTILLM_") else f"OPTILLM_{name}", *f.metadata.get("env", ())]


def coerce(value: Any, kind: Any) -> Any:
    """Convert a flag/env/TOML value to the option's type."""
    if kind in (bool, "bool"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if kind in (int, "int"):
        return int(value)
    if kind in (float, "float"):
        return float(value)
    if kind in (list[str], "list[str]"):
        if isinstance(value, list):
            return [str(v) for v in value]
        return [part.strip() for part in str(value).split(",") if part.strip()]
    return str(value)


def read_toml(path: str) -> dict[str, Any]:
    """The parsed TOML config file (``{}`` when ``path`` is empty)."""
    if not path:
        return {}
    with Path(path).expanduser().open("rb") as handle:
        return tomllib.load(handle)


def build_settings(
    given: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    plugin_flags: Mapping[str, dict[str, Any]] | None = None,
    plugin_env: Mapping[str, tuple[str, ...]] | None = None,
) -> Settings:
    """Combine explicit values (flags) with the environment, the TOML file and defaults.

    ``plugin_env`` maps ``"slug.field"`` to the environment variables that may set it.
    """
    env = os.environ if env is None else env
    config_path = given.get("config") or env.get("OPTILLM_CONFIG", "")
    file_values = read_toml(config_path)
    values: dict[str, Any] = {}
    for f in core_fields():
        if f.name in given:
            values[f.name] = coerce(given[f.name], f.type)
            continue
        found = next((env[name] for name in env_names(f) if name in env), None)
        if found is not None:
            values[f.name] = coerce(found, f.type)
        elif f.name in file_values and not isinstance(file_values[f.name], dict):
            values[f.name] = coerce(file_values[f.name], f.type)
    options: dict[str, dict[str, Any]] = {}
    for section, table in file_values.items():
        if isinstance(table, dict):
            options.setdefault(section, {}).update(table)
    for key, names in (plugin_env or {}).items():
        slug, _, name = key.partition(".")
        found = next((env[n] for n in names if n in env), None)
        if found is not None:
            options.setdefault(slug, {})[name] = found
    for slug, table in (plugin_flags or {}).items():
        options.setdefault(slug, {}).update(table)
    values["plugin_options"] = options
    return Settings(**values)
