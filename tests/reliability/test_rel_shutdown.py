"""Graceful shutdown under load: SIGTERM while 50 requests are in flight. Readiness turns 503
at once, the 50 finish with 200, new requests are refused with 503 JSON (and ``retry-after``),
and the process exits with status 0 within its drain timeout."""

from __future__ import annotations

from rel_kit_lifecycle import sigterm_under_load


def test_sigterm_with_50_requests_in_flight_drains_them_all() -> None:
    figures = sigterm_under_load(in_flight=50, latency=1.5, grace=0.5, drain=10.0)
    print(figures.summary())
    assert figures.exit_code == 0
    assert figures.exited_after < figures.drain_grace + figures.drain_timeout
    assert figures.not_ready_after < 0.5
    assert figures.refused_status == 503 and figures.refused_code == "draining"
    assert figures.statuses == {200: 50}
    assert figures.answers_ok
    assert figures.upstream_calls == 50  # the refused request never went upstream
