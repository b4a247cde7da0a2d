"""litellm takes seconds to import: importing the plugin and building the app must not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

BUILD_WITHOUT_IMPORTING = """
import json, sys
import optillm_litellm, optillm_litellm.plugin
from optillm_core import create_app
from optillm_core.testing import make_settings
create_app(make_settings(upstream="litellm"), [optillm_litellm.plugin], autoload=False)
create_app(make_settings(upstream="litellm", base_url="http://127.0.0.1:9/v1"))
print(json.dumps("litellm" in sys.modules))
"""


def test_importing_the_plugin_and_building_the_app_leave_litellm_unimported() -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-c", BUILD_WITHOUT_IMPORTING],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False
