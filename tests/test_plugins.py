"""Plugin loading and the registry: hooks, failures, collisions, allow/block lists."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from optillm_core import Approach, ApproachResult, hookimpl, make_plugin_manager
from optillm_core import hookspecs as hookspecs_module
from optillm_core.errors import PluginError
from optillm_core.plugins import describe_plugins, list_plugins
from optillm_core.registry import build_registry

ROOT = Path(__file__).resolve().parents[1]


def hook_names() -> list[str]:
    return [
        name
        for name, fn in inspect.getmembers(hookspecs_module, inspect.isfunction)
        if name.startswith("register_")
    ]


def test_there_are_six_hooks() -> None:
    assert sorted(hook_names()) == sorted(
        [
            "register_approaches",
            "register_processors",
            "register_decoders",
            "register_upstreams",
            "register_middleware",
            "register_commands",
        ]
    )


@pytest.mark.parametrize("name", hook_names())
def test_every_hookspec_has_a_docstring_and_a_docs_heading(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs_module, name)) or ""
    assert "Called" in doc, f"{name}: say when it is called"
    assert ":param" in doc, f"{name}: document its parameters"
    headings = re.findall(r"^## (\w+)$", (ROOT / "docs/plugin-hooks.md").read_text(), re.M)
    assert name in headings, f"docs/plugin-hooks.md needs a '## {name}' heading"


class Echo(Approach):
    slug = "echo"
    summary = "echo"

    async def run(self, ctx: Any) -> ApproachResult:
        return ApproachResult.text("x")


def plugin_with(*approaches: Approach, name: str = "p") -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def register_approaches(register: Any) -> None:
        for approach in approaches:
            register(approach)

    module.register_approaches = register_approaches  # type: ignore[attr-defined]
    return module


def test_programmatic_registration_without_entry_points() -> None:
    pm = make_plugin_manager(autoload=False, plugins=[plugin_with(Echo())])
    registry = build_registry(pm)
    assert set(registry.approaches) == {"none", "echo"}
    assert set(registry.upstreams) == {"openai", "azure"}


def test_duplicate_slug_names_both_distributions() -> None:
    pm = make_plugin_manager(autoload=False)
    pm.register_plugin(plugin_with(Echo(), name="a"), name="a", distribution="optillm-a")
    pm.register_plugin(plugin_with(Echo(), name="b"), name="b", distribution="optillm-b")
    with pytest.raises(PluginError) as raised:
        build_registry(pm)
    assert "optillm-a" in str(raised.value)
    assert "optillm-b" in str(raised.value)


def test_an_invalid_registration_skips_that_plugin_whole_unless_strict() -> None:
    bad = Echo()
    bad.slug = "Bad-Slug"  # type: ignore[misc]
    good = Echo()
    good.slug = "fine"  # type: ignore[misc]
    pm = make_plugin_manager(autoload=False, plugins=[plugin_with(good, bad)])
    registry = build_registry(pm)
    assert "fine" not in registry.approaches  # nothing of a half-registered plugin remains
    assert any(info.error and "invalid slug" in info.error for info in pm.failures)
    with pytest.raises(PluginError, match="invalid slug"):
        build_registry(make_plugin_manager(autoload=False, plugins=[plugin_with(bad)]), strict=True)


def test_a_failing_hook_is_listed_not_fatal_unless_strict() -> None:
    module = types.ModuleType("broken")

    @hookimpl
    def register_approaches(register: Any) -> None:
        raise RuntimeError("boom")

    module.register_approaches = register_approaches  # type: ignore[attr-defined]
    pm = make_plugin_manager(autoload=False, plugins=[module])
    registry = build_registry(pm)
    assert "none" in registry.approaches
    assert any(info.error and "boom" in info.error for info in list_plugins(pm))
    with pytest.raises(PluginError, match="boom"):
        build_registry(make_plugin_manager(autoload=False, plugins=[module]), strict=True)


def test_plugins_dir_single_files_and_broken_ones(tmp_path: Path) -> None:
    (tmp_path / "shout.py").write_text(
        "from optillm_core import Approach, ApproachResult, hookimpl\n"
        "class Shout(Approach):\n"
        "    slug = 'shout'\n"
        "    summary = 'shout'\n"
        "    async def run(self, ctx):\n"
        "        return ApproachResult.text('HEY')\n"
        "@hookimpl\n"
        "def register_approaches(register):\n"
        "    register(Shout())\n"
    )
    (tmp_path / "broken.py").write_text("import does_not_exist_anywhere\n")
    pm = make_plugin_manager(autoload=False, plugins_dir=str(tmp_path))
    registry = build_registry(pm)
    assert "shout" in registry.approaches
    rows = {row["name"]: row for row in describe_plugins(pm, registry)}
    assert rows["shout"]["slugs"] == ["shout"]
    assert "does_not_exist_anywhere" in rows["broken"]["error"]
    with pytest.raises(PluginError, match="broken"):
        make_plugin_manager(autoload=False, plugins_dir=str(tmp_path), strict=True)


def test_allow_and_block_lists(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / f"{name}.py").write_text("")
    pm = make_plugin_manager(autoload=False, plugins_dir=str(tmp_path), load=["one"])
    assert pm.has_plugin("one")
    assert not pm.has_plugin("two")
    pm = make_plugin_manager(autoload=False, plugins_dir=str(tmp_path), disabled=["one"])
    assert not pm.has_plugin("one")
    assert pm.has_plugin("two")


def test_entry_points_are_loaded_and_listed_by_the_cli() -> None:
    # The template distribution is installed in the test environment.
    out = subprocess.run(
        [sys.executable, "-m", "optillm_core", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={"OPTILLM_DISABLED_PLUGINS": "", "PATH": "/usr/bin:/bin"},
    )
    import json

    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["builtin"]["slugs"] == ["none"]
    assert rows["builtin"]["distribution"] == "optillm-core"
    assert rows["example"]["distribution"] == "optillm-example"
    assert rows["example"]["slugs"] == ["example_echo"]
    assert rows["example"]["version"]


def test_no_global_plugin_manager() -> None:
    assert make_plugin_manager(autoload=False) is not make_plugin_manager(autoload=False)
