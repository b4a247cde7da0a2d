"""Importing the core stays light: no torch, transformers, presidio or litellm."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "presidio_analyzer", "presidio_anonymizer", "litellm", "peft")


def test_core_import_pulls_no_heavy_library() -> None:
    code = (
        "import sys, json, optillm_core, optillm_core.cli, optillm_core.testing;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & set(HEAVY), f"heavy modules imported: {sorted(loaded & set(HEAVY))}"


def test_building_the_app_with_every_installed_plugin_pulls_no_heavy_library() -> None:
    code = (
        "import sys, json\n"
        "from optillm_core import create_app, Settings\n"
        "create_app(Settings(base_url='http://127.0.0.1:9/v1'))\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & set(HEAVY), (
        f"plugins import heavy modules at start: {sorted(loaded & set(HEAVY))}"
    )
