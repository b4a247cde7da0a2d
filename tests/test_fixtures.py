"""The pytest plugin's fixtures work as documented."""

from __future__ import annotations

import pytest

from optillm_core.plugins import PluginManager
from optillm_core.registry import build_registry
from optillm_core.testing import FakeUpstream


@pytest.mark.anyio
async def test_client_fixture_talks_to_the_app_over_the_fake_upstream(
    client, fake_upstream
) -> None:
    fake_upstream.enqueue("scripted")
    response = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert response.choices[0].message.content == "scripted"
    assert fake_upstream.call_count == 1


def test_plugin_manager_fixture_is_fresh_and_has_only_builtins(
    plugin_manager: PluginManager,
) -> None:
    assert set(build_registry(plugin_manager).approaches) == {"none"}


def test_fake_upstream_fixture(fake_upstream: FakeUpstream) -> None:
    assert fake_upstream.call_count == 0
    assert fake_upstream.supports_n


@pytest.mark.anyio
async def test_run_in_process_returns_outcome_and_collected_result() -> None:
    from optillm_core.testing import run_in_process

    fake = FakeUpstream("in process")
    outcome, result = await run_in_process(fake, [], "none", "hello", body={"seed": 3})
    assert result.first_text == "in process"
    assert str(outcome.plan) == "none"
    assert fake.bodies[0]["seed"] == 3
    assert outcome.state.usage.calls == 1
