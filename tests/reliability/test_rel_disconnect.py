"""Client disconnects cancel every upstream call of the request, every time.

Three shapes: a non-streaming multi-call approach (moa, three concurrent draft calls in flight),
a streaming passthrough, and a streaming approach (moa's streamed final call). After each
disconnect the upstream must see no call in flight within 1 s; over all repetitions this
process's tasks, sockets and memory must not grow, and the proxy records every disconnect.
The default run repeats each shape 30 times; the ``slow`` run 200 times.
"""

from __future__ import annotations

import pytest
from rel_kit_lifecycle import disconnect_run


async def check(repetitions: int) -> None:
    figures = await disconnect_run(repetitions)
    summary = figures.summary()
    print(summary)
    assert summary["disconnects"] == summary["recorded_by_proxy"] == 3 * repetitions
    assert max(figures.waits) <= 1.0
    assert summary["tasks_delta"] <= 0, summary
    assert summary["sockets_delta"] <= 2, summary
    # a leak of even a few KiB per request would show over hundreds of requests
    assert summary["rss_delta_kib"] < 4 * 1024, summary


@pytest.mark.anyio
async def test_disconnects_cancel_upstream_calls_30_times() -> None:
    await check(30)


@pytest.mark.slow
@pytest.mark.anyio
async def test_disconnects_cancel_upstream_calls_200_times() -> None:
    await check(200)
