"""Renders ``docs/reliability.md`` from the figures ``reliability_bench.py`` measured
(``docs/reliability-figures.json``), and lists which figures break a promise.

    python benchmarks/reliability_report.py     # re-render from the stored figures
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "reliability-figures.json"
DOC = ROOT / "docs" / "reliability.md"

#: upstream calls each retry class must cause with ``upstream_max_retries=2``
RETRIED = ("429 + retry-after", "500", "502", "503", "connection closed before any byte")

FINDINGS = [
    (
        "Streams had no idle timeout: a stalled upstream stream held the request (and a client "
        "socket) for the whole `upstream_timeout` (600 s).",
        "New setting `upstream_idle_timeout` (default 300 s, `--upstream-idle-timeout`): the "
        "read timeout of streaming upstream responses; a silent stream ends with a terminal "
        "SSE error event `upstream_idle_timeout` (`optillm_core/upstream/direct.py`, "
        "`openai_compat.py`, `settings.py`).",
    ),
    (
        "A non-streaming upstream answer that broke off after its status line (reset mid-body) "
        "was retried, so the upstream did the expensive work again, and the error said "
        "'Could not reach the upstream'.",
        "The retry layer now retries only until the upstream's status line; a body that breaks "
        "off is `502 upstream_connection_lost` (a silent stream `504 upstream_idle_timeout`) "
        "and is never retried. Connect timeouts are retried (nothing reached the model).",
    ),
    (
        "With both the proxy (`upstream_max_retries=2`) and openai-python (`max_retries=2`) "
        "retrying, an upstream 429 or 5xx could cost 9 upstream calls.",
        "Errors the proxy's retry layer gave up on carry `x-should-retry: false`; the SDK then "
        "does not retry (3 calls in total, tested with the real SDK).",
    ),
    (
        "Upstream error messages were passed through verbatim; an upstream that echoes the key "
        "it was sent ('Incorrect API key provided: sk-…') leaked the operator's upstream key "
        "(or a forwarded client key) to every client.",
        "The key is masked (`***`) in upstream error messages and stream error events.",
    ),
    (
        "Fuzzing: a body nested deeper than Python's recursion limit (`[[[[…]]]]`) and a "
        "message whose `role` is a list or object were answered with 500.",
        "Both are 400 now (`routes.read_json` catches `RecursionError`; the message validator "
        "checks the role's type before looking it up).",
    ),
    (
        "Every keep-alive response of a server started by the test kit (`serve_app`, "
        "`FakeUpstream.serve`) waited 40 ms: the listening socket was created with `proto=0`, "
        "so asyncio never set `TCP_NODELAY` on accepted connections (Nagle + delayed ACK). "
        "The multi-worker runner created its socket the same way (harmless under uvloop, 40 ms "
        "per response on the plain asyncio loop).",
        "Both sockets are created with `IPPROTO_TCP` (`testing/_fake_serve.py`, "
        "`server/runner.py`).",
    ),
    (
        "While presidio (in worker threads) analysed text, the event loop waited up to 5 ms for "
        "the GIL after every poll; /health p99 reached 130-350 ms.",
        "`optillm serve` sets the GIL switch interval to 1 ms (`runner.tune_interpreter`). "
        "Still open (optillm-privacy): the first request builds the analyzer and loads "
        "phonenumbers' metadata, which holds the GIL for about 0.3 s once per process; warming "
        "the analyzer at start-up, or running presidio in a process pool, would remove it.",
    ),
]


#: known gaps, kept here until fixed (rendered under "Open" with whatever the figures break)
OPEN = [
    "optillm-privacy: the first privacy request of a process builds the presidio analyzer and "
    "loads phonenumbers' metadata, holding the GIL for about 0.3 s once (see the 'first use' "
    "row: one or two /health probes wait that long). Warm it at start-up or move presidio to "
    "a process pool.",
    "The `azure` upstream keeps the openai SDK's request path: its retries are the SDK's "
    "(still one layer, `upstream_max_retries`), but its errors carry no `x-should-retry: "
    "false` and upstream error messages are not scrubbed of the key.",
    "Overload is shed by the proxy's own limiter, after the connection is accepted: a burst "
    "of 256 new connections on 2 cores takes a few hundred ms to reject (the rejection p99 "
    "above); uvicorn's `--limit-concurrency` is not set.",
]


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:g} ms"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:+.1f} %"


def failures(figures: dict[str, Any]) -> list[str]:
    """Every promise the figures break (empty: all kept)."""
    out: list[str] = []
    faults = figures.get("faults")
    if faults and faults["passed"] != faults["cases"]:
        bad = [f"{r['approach']}/{r['stream']}/{r['case']}" for r in faults["rows"] if not r["ok"]]
        out.append(f"faults: {len(bad)} cases failed: {', '.join(bad[:5])}")
    retries = figures.get("retries")
    if retries:
        for row in retries["rows"]:
            wanted = 3 if row["fault"] in RETRIED else 1
            if row["upstream_calls"] != wanted:
                out.append(
                    f"retries: {row['fault']}: {row['upstream_calls']} calls, wanted {wanted}"
                )
    gone = figures.get("disconnects")
    if gone:
        if gone["upstream_abort_max_ms"] > 1000:
            out.append(f"disconnects: an upstream call ran {gone['upstream_abort_max_ms']} ms on")
        if gone["recorded_by_proxy"] != gone["disconnects"]:
            out.append("disconnects: not every disconnect was recorded")
        if gone["tasks_delta"] > 0 or gone["sockets_delta"] > 2:
            out.append(
                f"disconnects: tasks {gone['tasks_delta']:+}, sockets {gone['sockets_delta']:+}"
            )
        if gone["rss_delta_kib"] > 4 * 1024:
            out.append(f"disconnects: RSS grew {gone['rss_delta_kib']} KiB")
    load = figures.get("load")
    if load:
        for key in ("passthrough", "bon", "overload"):
            row = load[key]
            if row["lost"] or row["duplicated"]:
                out.append(f"load {key}: {row['lost']} lost, {row['duplicated']} duplicated")
        if set(load["passthrough"]["statuses"]) != {"200"} or set(load["bon"]["statuses"]) != {
            "200"
        }:
            out.append("load: a request within the limit was not answered 200")
        if not set(load["overload"]["statuses"]) <= {"200", "429", "503"}:
            out.append(f"overload: statuses {load['overload']['statuses']}")
    down = figures.get("shutdown")
    if down:
        if down["exit_code"] != 0 or down["completed_200"] != down["in_flight_at_sigterm"]:
            out.append(f"shutdown: exit {down['exit_code']}, {down['completed_200']} completed")
        if down["new_request_status"] != 503 or down["readiness_503_after_ms"] > 500:
            out.append("shutdown: not refusing new work at once")
    loop = figures.get("loop")
    if loop:
        for row in loop["components"]:
            if row["busy_s"] and row.get("checked", True) and row["health_p99_ms"] >= 100:
                out.append(f"loop: /health p99 {row['health_p99_ms']} ms while {row['component']}")
    fuzz = figures.get("fuzz")
    if fuzz and not fuzz["passed"]:
        out.append(f"fuzz: failed ({fuzz['tail']})")
    soak = figures.get("soak")
    if soak:
        if soak["lost"]:
            out.append(f"soak: {soak['lost']} requests lost")
        for key in ("rss_drift", "fds_drift"):
            if soak[key] is None or abs(soak[key]) > 0.10:
                out.append(f"soak: {key} {soak[key]}")
    return out


def _summary(figures: dict[str, Any]) -> list[str]:
    rows = [
        "| area | what was tried | requests | lost | p99 | resources | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    faults = figures.get("faults")
    if faults:
        classes = len({row["case"] for row in faults["rows"]})
        rows.append(
            f"| upstream faults | {faults['cases']} cases: {classes} fault classes x none/moa x "
            f"plain/stream | {faults['cases']} | {faults['cases'] - faults['passed']} | "
            f"slowest {max(r['seconds'] for r in faults['rows']):.2f} s (deadlines "
            f"{faults['idle_timeout_s']:g} s idle, {faults['request_timeout_s']:g} s request) | tasks "
            f"+{faults['leaked_tasks']}, sockets +{faults['leaked_sockets']} | "
            f"{faults['passed']}/{faults['cases']} correct |"
        )
    retries = figures.get("retries")
    if retries:
        n = len(retries["rows"])
        ok = sum(
            row["upstream_calls"] == (3 if row["fault"] in RETRIED else 1)
            for row in retries["rows"]
        )
        rows.append(
            f"| retry discipline | {n} fault classes, every attempt failing | {n} | - | - | "
            f"- | {ok}/{n} with the right upstream call count |"
        )
    gone = figures.get("disconnects")
    if gone:
        rows.append(
            f"| client disconnects | 3 shapes x {gone['repetitions_per_shape']} | "
            f"{gone['disconnects']} | - | {_ms(gone['upstream_abort_p99_ms'])} until the "
            f"upstream saw the abort | tasks {gone['tasks_delta']:+}, sockets "
            f"{gone['sockets_delta']:+}, RSS {gone['rss_delta_kib'] / 1024:+.1f} MiB | "
            f"{gone['recorded_by_proxy']}/{gone['disconnects']} recorded |"
        )
    load = figures.get("load")
    if load:
        for key, what in (
            ("passthrough", "passthrough, concurrency 64, upstream 50 ms"),
            ("bon", "bon (4 upstream calls each), concurrency 16"),
            (
                "overload",
                f"burst of {load['overload']['sent']} at limit {load['overload']['limit']}",
            ),
        ):
            row = load[key]
            statuses = ", ".join(f"{v}x {k}" for k, v in row["statuses"].items())
            p99 = _ms(row["p99_ms"])
            if key == "overload":
                p99 += f"; rejections {_ms(row['rejected_p99_ms'])}"
            rows.append(
                f"| load: {key} | {what} | {row['sent']} | {row['lost']} (dup. "
                f"{row['duplicated']}) | {p99} | - | {statuses} |"
            )
    down = figures.get("shutdown")
    if down:
        rows.append(
            f"| graceful shutdown | SIGTERM with {down['in_flight_at_sigterm']} in flight | "
            f"{down['in_flight_at_sigterm'] + 1} | {down['in_flight_at_sigterm'] - down['completed_200']} | "
            f"- | - | exit {down['exit_code']} after {down['exited_after_s']} s; not ready after "
            f"{_ms(down['readiness_503_after_ms'])}; new request {down['new_request_status']} |"
        )
    loop = figures.get("loop")
    if loop:
        for row in loop["components"]:
            if row["busy_s"]:
                rows.append(
                    f"| event loop, busy: {row['component']} | {row['note']} | "
                    f"{row['health_probes']} /health probes | - | {_ms(row['health_p99_ms'])} "
                    f"(/health) | loop lag p99 {_ms(row['loop_lag_p99_ms'])} | "
                    f"{_loop_verdict(row)} |"
                )
            else:
                rows.append(
                    f"| event loop, busy: {row['component']} | {row['note']} | - | - | - | - | - |"
                )
    fuzz = figures.get("fuzz")
    if fuzz:
        rows.append(
            f"| fuzzing | hypothesis bodies, {fuzz['examples_per_test']} per test | "
            f"{fuzz['bodies']} | - | - | - | {'no 500, no hang' if fuzz['passed'] else 'FAILED'} |"
        )
    soak = figures.get("soak")
    if soak:
        rows.append(
            f"| soak | {soak['seconds'] / 60:g} min mixed traffic at ~{soak['target_rate_per_s']:g}/s "
            f"| {soak['sent']} | {soak['lost']} | {_ms(soak['p99_ms'])} | RSS "
            f"{_pct(soak['rss_drift'])}, fds {_pct(soak['fds_drift'])} | "
            f"{'flat' if soak['rss_drift'] is not None and abs(soak['rss_drift']) <= 0.1 and abs(soak['fds_drift']) <= 0.1 else 'drifting'} |"
        )
    return rows


def _loop_verdict(row: dict[str, Any]) -> str:
    if row["health_p99_ms"] < 100:
        return "under 100 ms"
    return "over 100 ms" if row.get("checked", True) else "over 100 ms (one-time, open)"


def _faults(faults: dict[str, Any]) -> list[str]:
    columns = [("none", False), ("none", True), ("moa", False), ("moa", True)]
    cells: dict[str, dict[tuple[str, bool], str]] = {}
    for row in faults["rows"]:
        mark = "" if row["ok"] else " ✗"
        cells.setdefault(row["case"], {})[(row["approach"], row["stream"])] = (
            f"{row['status']} `{row['code']}` {row['seconds']:.2f} s{mark}"
        )
    lines = [
        f"Idle timeout {faults['idle_timeout_s']} s, request deadline "
        f"{faults['request_timeout_s']} s. A stream that had begun ends with a terminal SSE error "
        "event (status 200, no `[DONE]`); otherwise the status is the HTTP status of an OpenAI "
        "error body. After every case: no upstream call in flight, no extra task or socket.",
        "",
        "| fault | passthrough | passthrough, stream | moa | moa, stream |",
        "| --- | --- | --- | --- | --- |",
    ]
    for case, by_column in cells.items():
        lines.append(f"| {case} | " + " | ".join(by_column.get(c, "n/a") for c in columns) + " |")
    return lines


def _retries(retries: dict[str, Any]) -> list[str]:
    lines = [
        f"`upstream_max_retries={retries['max_retries']}`, every attempt failing; the count is "
        "what the upstream saw.",
        "",
        "| fault | stream | status | upstream calls | x-should-retry |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in retries["rows"]:
        lines.append(
            f"| {row['fault']} | {'yes' if row['stream'] else 'no'} | {row['status']} | "
            f"{row['upstream_calls']} | {row['x_should_retry'] or '-'} |"
        )
    return lines


def render(figures: dict[str, Any]) -> str:
    """The Markdown of ``docs/reliability.md``."""
    machines = {json.dumps(v.get("machine"), sort_keys=True) for v in figures.values()}
    where = "; ".join(
        f"Python {m['python']} on {m['platform']}, {m['cpus']} CPUs, {m['date']}"
        for m in (json.loads(x) for x in sorted(machines) if x != "null")
    )
    out = [
        "# Reliability",
        "",
        "<!-- Generated by benchmarks/reliability_bench.py from docs/reliability-figures.json; "
        "do not edit by hand: run `nox -s reliability` (and `nox -s soak`). -->",
        "",
        "What the proxy promises when things go wrong, and the figures that show it. The CI "
        "suite (`tests/reliability/`, about a minute) checks every promise at a small size; "
        "`nox -s reliability` runs the full sizes below and regenerates this page; `nox -s "
        "soak` adds the soak (10 minutes by default, `-- --soak-seconds N`).",
        "",
        f"Measured on: {where}. Everything on 127.0.0.1; in the load and soak rows the fake "
        "upstream, the proxy (`python -m optillm_core`, one worker) and the load generator are "
        "three processes sharing the same cores.",
        "",
        "## Summary",
        "",
        *_summary(figures),
        "",
        "## The promises",
        "",
        "- **Upstream errors**: 4xx keep their status and message (`x-should-retry: false`); "
        "429 keeps `retry-after`; 5xx, unreachable, broken and malformed upstreams are 502, a "
        "deadline is 504 — always OpenAI error JSON, or a terminal SSE `error` event once a "
        "stream has begun. Never a traceback.",
        "- **One retry layer**: the proxy's own (`upstream_max_retries`), for connection errors "
        "and 408/409/429/5xx, and only before the upstream's status line. Nothing is retried "
        "after a byte has arrived, nothing after a stream has begun, no multi-call approach is "
        "re-run. Errors it gave up on say `x-should-retry: false`.",
        "- **Timeouts**: `request_timeout` (whole request), `upstream_timeout` (one call) and "
        "`upstream_idle_timeout` (silence inside an upstream stream).",
        "- **Disconnects** cancel every upstream call of the request (streaming or not) at once.",
        "- **Overload** beyond `max_concurrent_requests` is 503 JSON with `retry-after`, at once.",
        "- **Shutdown** (SIGTERM): not ready at once, new requests 503, in-flight ones finish "
        "within `drain_timeout`, exit status 0.",
        "- **Secrets**: keys never appear in logs (any level), errors, traces, `/metrics`, "
        "`optillm config` or conversation logs; the proxy key is compared as SHA-256 digests "
        "with `hmac.compare_digest`.",
        "- **Event loop**: CPU-heavy work (sandbox, presidio, the local engine) never runs on "
        "the loop; /health stays under 100 ms (p99).",
        "",
    ]
    if "faults" in figures:
        out += ["## Upstream faults", "", *_faults(figures["faults"]), ""]
    if "retries" in figures:
        out += ["## Retry discipline", "", *_retries(figures["retries"]), ""]
    for name, title in (
        ("disconnects", "Client disconnects"),
        ("load", "Load"),
        ("shutdown", "Graceful shutdown"),
        ("loop", "Event-loop health"),
        ("fuzz", "Fuzzing"),
        ("soak", "Soak"),
    ):
        if name in figures:
            shown = {k: v for k, v in figures[name].items() if k not in ("machine", "rows")}
            out += [
                f"## {title}",
                "",
                "```json",
                json.dumps(shown, indent=1, sort_keys=True),
                "```",
                "",
            ]
    out += ["## Found and fixed by this campaign", ""]
    for problem, fix in FINDINGS:
        out.append(f"- {problem} **Fix:** {fix}")
    broken = failures(figures)
    out += ["", "## Open", ""]
    out += [f"- Broken by the figures: {item}" for item in broken] or [
        "- Every figure above keeps its promise."
    ]
    out += [f"- {item}" for item in OPEN]
    return "\n".join(out) + "\n"


def main() -> int:
    """Re-render the page from the stored figures."""
    figures = json.loads(FIGURES.read_text())
    DOC.write_text(render(figures))
    for failure in failures(figures):
        print(f"FAILED: {failure}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
