"""Memory scope: per request by default; persisted per key only when the operator enables it."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import openai
import pytest

from optillm_core import build_registry, make_plugin_manager
from optillm_core.settings import build_settings
from optillm_core.settings_plugins import plugin_env_names
from optillm_core.testing import FakeUpstream, make_app, openai_client
from optillm_memory import plugin as memory_plugin
from optillm_memory.notes import EXTRACT_SYSTEM


def notes_reply(body: dict[str, Any]) -> str:
    """Extraction: the chunk's "Fact:" sentence as a note; final: the notes it was given."""
    user = body["messages"][-1]["content"]
    if body["messages"][0]["content"] == EXTRACT_SYSTEM:
        fact = re.search(r"Fact:[^.]*", user)
        return f"YES#{fact.group()}" if fact else "NO#"
    return user


async def ask(app: Any, text: str, **extra: Any) -> str:
    async with openai_client(app) as client:
        response = await client.chat.completions.create(
            model="memory-fake-model",
            messages=[{"role": "user", "content": text}],
            **extra,
        )
    return response.choices[0].message.content or ""


def persisted_app(fake: FakeUpstream, path: Path) -> Any:
    return make_app(fake, [memory_plugin], plugin_options={"memory": {"memory_file": str(path)}})


@pytest.mark.anyio
async def test_notes_live_for_one_request_by_default() -> None:
    fake = FakeUpstream(notes_reply)
    app = make_app(fake, [memory_plugin])
    first = await ask(app, "Fact: the boat is red. Query: What colour is the boat?", user="ann")
    second = await ask(app, "Unrelated filler. Query: What colour is the boat?", user="ann")
    assert "the boat is red" in first
    assert "the boat is red" not in second


@pytest.mark.anyio
async def test_persisted_notes_are_kept_per_user_and_never_shared(tmp_path: Path) -> None:
    path = tmp_path / "memory.json"
    fake = FakeUpstream(notes_reply)
    app = persisted_app(fake, path)
    await ask(app, "Fact: my locker is 12. Query: Which locker?", user="ann")
    await ask(app, "Fact: my locker is 99. Query: Which locker?", user="bob")
    ann = await ask(app, "Filler only. Query: Which locker is mine?", user="ann")
    bob = await ask(app, "Filler only. Query: Which locker is mine?", user="bob")
    anonymous = await ask(app, "Filler only. Query: Which locker is mine?")
    assert "locker is 12" in ann and "locker is 99" not in ann
    assert "locker is 99" in bob and "locker is 12" not in bob
    assert "locker" not in anonymous.split("Question:")[0]
    stored = json.loads(path.read_text())
    assert len(stored["keys"]) == 2
    assert "ann" not in path.read_text() and "bob" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.anyio
async def test_memory_key_in_the_body_wins_over_user_and_is_not_forwarded(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream(notes_reply)
    app = persisted_app(fake, tmp_path / "memory.json")
    key = {"x-optillm-memory-key": "team-blue"}
    await ask(app, "Fact: the door code is 5150. Query: Code?", user="ann", extra_body=key)
    same_key = await ask(app, "Filler. Query: What is the door code?", user="bob", extra_body=key)
    same_user = await ask(app, "Filler. Query: What is the door code?", user="ann")
    assert "door code is 5150" in same_key
    assert "5150" not in same_user
    assert all("x-optillm-memory-key" not in body for body in fake.bodies)


@pytest.mark.anyio
async def test_persistence_keeps_at_most_max_notes(tmp_path: Path) -> None:
    path = tmp_path / "memory.json"
    fake = FakeUpstream(notes_reply)
    app = make_app(
        fake,
        [memory_plugin],
        plugin_options={"memory": {"memory_file": str(path), "max_notes": 2}},
    )
    for n in range(4):
        await ask(app, f"Fact: item {n} is stored. Query: Which items?", user="ann")
    (notes,) = json.loads(path.read_text())["keys"].values()
    assert notes == ["Fact: item 2 is stored", "Fact: item 3 is stored"]


@pytest.mark.anyio
async def test_a_request_cannot_choose_the_memory_file(tmp_path: Path) -> None:
    fake = FakeUpstream(notes_reply)
    with pytest.raises(openai.BadRequestError) as raised:
        await ask(
            make_app(fake, [memory_plugin]),
            "Fact: x. Query: y?",
            extra_body={"memory_file": str(tmp_path / "stolen.json")},
        )
    assert "is set by the server operator only" in raised.value.message
    assert not (tmp_path / "stolen.json").exists()
    assert fake.call_count == 0


def test_optillm_memory_file_is_an_environment_alias(tmp_path: Path) -> None:
    registry = build_registry(make_plugin_manager(autoload=False, plugins=[memory_plugin]))
    settings = build_settings(
        {},
        env={"OPTILLM_MEMORY_FILE": str(tmp_path / "m.json")},
        plugin_env=plugin_env_names(registry),
    )
    assert settings.options_for("memory") == {"memory_file": str(tmp_path / "m.json")}
