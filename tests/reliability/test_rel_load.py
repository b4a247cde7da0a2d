"""Load, scaled down for CI (the full size is ``nox -s reliability``): with the upstream at
50 ms, passthrough and bon requests at high concurrency are each answered exactly once and the
upstream's request log reconciles with the answers; overload beyond the configured limit is
answered at once with 503 JSON and ``retry-after``, never with a timeout."""

from __future__ import annotations

import pytest
from rel_kit import proxy, smart_reply
from rel_kit_load import load, reconcile

import optillm_bon.plugin as bon
from optillm_core.testing import FakeUpstream


@pytest.mark.anyio
async def test_passthrough_and_bon_under_load_lose_and_duplicate_nothing() -> None:
    fake = FakeUpstream(smart_reply(), latency=0.05)
    async with proxy(fake, [bon], keepalive_interval=0) as (app, url):
        plain = await load(url, "fake-model", 300, 32, label="plain", limit_seconds=60)
        reconcile(plain, fake, calls_per_request=1)
        fake.reset()
        best = await load(url, "bon-fake-model", 40, 8, label="bon", limit_seconds=60)
        reconcile(best, fake, calls_per_request=4)  # 3 candidates in one call, 3 ratings
    for result in (plain, best):
        print(result.summary())
        assert result.problems == []
        assert result.lost == [] and result.duplicated == []
        assert result.statuses == {200: result.sent}
        assert result.p(0.99) < 10_000  # nothing hangs (a generous bound on a shared machine)
    assert app.state.server.metrics.in_flight == 0


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_overload_is_shed_with_503_json_not_timeouts(stream: bool) -> None:
    fake = FakeUpstream(smart_reply(), latency=1.0)
    async with proxy(fake, max_concurrent_requests=8, keepalive_interval=0) as (app, url):
        result = await load(
            url,
            "fake-model",
            64,
            64,
            label="over",
            stream=stream,
            request_timeout=10,
            limit_seconds=30,
        )
        reconcile(result, fake, calls_per_request=1)
    print(result.summary())
    assert result.problems == [] and result.lost == [] and result.duplicated == []
    assert set(result.statuses) == {200, 503}
    assert result.statuses[200] >= 8  # the first eight are served
    assert result.statuses[503] >= 32  # most of the burst is shed, not queued
    # shed at once: well before the 1 s an accepted request takes upstream
    assert max(result.rejected_latencies) < 0.8
