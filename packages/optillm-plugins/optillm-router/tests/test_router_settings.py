"""The router's operator settings through the real ``optillm`` command line and environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def config(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OPTILLM_LOAD_PLUGINS": "router"}
    out = subprocess.run(
        [sys.executable, "-m", "optillm_core", "config", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
        check=True,
    )
    options = json.loads(out.stdout)["plugin_options"]
    assert isinstance(options, dict)
    return options


def test_model_path_and_fallback_from_flags_and_environment() -> None:
    assert config("--router-model-path", "/models/router", "--router-fallback", "bon") == {
        "router": {"model_path": "/models/router", "fallback": "bon"}
    }
    from_env = config(env={"OPTILLM_ROUTER_MODEL_PATH": "/srv/clf", "OPTILLM_ROUTER_EFFORT": "1"})
    assert from_env == {"router": {"model_path": "/srv/clf", "effort": "1"}}
