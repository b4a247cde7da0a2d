"""The ``optillm`` command: flags, environment, config file, plugins listing, serving."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from optillm_core.cli import check_binding
from optillm_core.errors import OptillmError
from optillm_core.settings import Settings, build_settings


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [sys.executable, "-m", "optillm_core", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
    )


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    config = tmp_path / "optillm.toml"
    config.write_text('port = 7000\nmodel = "file-model"\nn = 2\n[bon]\nbest_of_n = 5\n')
    env = {"OPTILLM_CONFIG": str(config), "OPTILLM_MODEL": "env-model", "OPTILLM_N": "3"}
    settings = build_settings({"n": "4"}, env=env)
    assert settings.port == 7000
    assert settings.model == "env-model"
    assert settings.n == 4
    assert settings.plugin_options == {"bon": {"best_of_n": 5}}
    assert Settings().port == 8000


def test_booleans_and_lists_from_env() -> None:
    settings = build_settings(
        {}, env={"OPTILLM_RETURN_FULL_RESPONSE": "yes", "OPTILLM_LOAD_PLUGINS": "a, b"}
    )
    assert settings.return_full_response is True
    assert settings.load_plugins == ["a", "b"]


def test_config_prints_effective_settings_with_secrets_redacted() -> None:
    canary = "sk-canary-0123456789"
    out = run_cli(
        "config", "--port", "9123", "--example-echo-prefix", "Be brief.",
        env={"OPTILLM_API_KEY": canary, "OPENAI_API_KEY": canary},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert canary not in out.stdout + out.stderr
    printed = json.loads(out.stdout)
    assert printed["port"] == 9123
    assert printed["plugin_options"] == {"example_echo": {"prefix": "Be brief."}}
    assert printed["optillm_api_key"] == "***"
    assert printed["openai_api_key"] == "***"


def test_plugin_options_from_derived_env_names() -> None:
    out = run_cli("config", env={"OPTILLM_EXAMPLE_ECHO_PREFIX": "from env"})
    assert json.loads(out.stdout)["plugin_options"] == {"example_echo": {"prefix": "from env"}}


def test_reference_flag_spellings_are_accepted() -> None:
    out = run_cli("config", "--base_url", "http://127.0.0.1:1/v1", "--return-full-response")
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed["base_url"] == "http://127.0.0.1:1/v1"
    assert printed["return_full_response"] is True


def test_unknown_flag_is_a_usage_error() -> None:
    out = run_cli("--no-such-flag")
    assert out.returncode == 2
    assert "unrecognized arguments" in out.stderr


def test_non_loopback_bind_needs_a_key() -> None:
    with pytest.raises(OptillmError, match="--allow-unauthenticated"):
        check_binding(Settings(host="0.0.0.0"))
    check_binding(Settings(host="0.0.0.0", optillm_api_key="k"))
    check_binding(Settings(host="0.0.0.0", allow_unauthenticated=True))
    check_binding(Settings(host="127.0.0.1"))


def test_no_upstream_is_a_startup_error_that_says_how_to_configure_one() -> None:
    out = run_cli("--port", "1", "--disabled-plugins", "litellm")
    assert out.returncode == 2
    assert "--base-url" in out.stderr
    assert "Traceback" not in out.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bare_optillm_with_reference_flags_starts_the_server() -> None:
    port = _free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "optillm_core",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=10)
