"""The reliability suite's ``slow`` tests (the 200-repetition disconnect run) stay out of the
default run: they run with ``-m slow`` (as ``nox -s reliability`` does) or with
``OPTILLM_RELIABILITY_SLOW=1``. They are deselected, and pytest says so in its summary."""

from __future__ import annotations

import os

import pytest

HERE = os.path.dirname(__file__)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.option.markexpr or "") or os.environ.get("OPTILLM_RELIABILITY_SLOW"):
        return
    named = [arg for arg in config.args if "::" in arg]  # tests asked for by name still run
    slow = [
        item
        for item in items
        if item.get_closest_marker("slow")
        and str(item.path).startswith(HERE)
        and not any(item.name in arg for arg in named)
    ]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]
