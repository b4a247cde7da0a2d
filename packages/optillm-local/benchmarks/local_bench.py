"""Local-engine throughput: generated tokens/s for n=1 and n=8, n=8 batched against 8 sequential
generations, and cot_decoding (k=10) batched against one branch at a time.

Usage: ``python local_bench.py [MODEL_PATH ...] [--tokens N] [--repeat R] [--no-write]``.
Without a model path it builds the tiny random-weight test model (offline). The Markdown table
is printed and written into the "## Local engine" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from optillm_local import LocalConfig, LocalUpstream
from optillm_local.decoders import CotDecoder, EntropyDecoder
from optillm_local.request import ModelRef

sys.path.insert(0, str(Path(__file__).parent))
from perfdoc import update_block


def body(model: str, ban: dict[str, int], tokens: int, **extra: Any) -> dict[str, Any]:
    """A request that generates exactly ``tokens`` tokens (end-of-sequence banned)."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Count from one to one hundred, please."}],
        "max_tokens": tokens,
        "temperature": 1.0,
        "seed": 0,
        "logit_bias": ban,
        **extra,
    }


async def timed_rounds(calls: dict[str, Any], repeat: int) -> dict[str, float]:
    """Best wall time of each ``await call()``; the calls take turns in every round, so a burst
    of load from elsewhere does not hit one measurement only."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


async def bench_model(model: str, tokens: int, repeat: int) -> list[tuple[str, str]]:
    """Measurements for one model as (label, value) rows."""
    decoders = {"cot_decoding": CotDecoder(), "entropy_decoding": EntropyDecoder()}
    upstream = LocalUpstream(LocalConfig(concurrency=1), decoders)
    started = time.perf_counter()
    loaded = await anyio.to_thread.run_sync(upstream.cache.get, ModelRef.parse(model))
    load_s = time.perf_counter() - started
    ban = {str(t): -100 for t in loaded.eos_ids}
    one = body(model, ban, tokens)
    eight = body(model, ban, tokens, n=8)
    await upstream.create(body(model, ban, 4, n=8))  # warm-up

    async def sequential() -> None:
        for i in range(8):
            await upstream.create({**one, "seed": i})

    cot_tokens = max(tokens // 2, 8)
    cot = body(model, ban, cot_tokens, decoding="cot_decoding", k=10)
    times = await timed_rounds(
        {
            "n1": lambda: upstream.create(one),
            "n8": lambda: upstream.create(eight),
            "seq": sequential,
            "cot": lambda: upstream.create(cot),
            "cot_seq": lambda: upstream.create({**cot, "batch_size": 1}),
        },
        repeat,
    )
    t1, t8, t8s, tc, tcs = (times[k] for k in ("n1", "n8", "seq", "cot", "cot_seq"))
    return [
        ("device / dtype", f"{loaded.device} / {str(loaded.dtype).removeprefix('torch.')}"),
        ("load (first request)", f"{load_s:.2f} s"),
        (f"n=1, {tokens} tokens", f"{tokens / t1:.0f} tok/s ({t1:.2f} s)"),
        (f"n=8 batched, {tokens} tokens each", f"{8 * tokens / t8:.0f} tok/s ({t8:.2f} s)"),
        ("8 sequential n=1", f"{8 * tokens / t8s:.0f} tok/s ({t8s:.2f} s)"),
        ("**n=8 batched vs 8 sequential**", f"**{t8s / t8:.1f}x faster**"),
        (f"cot_decoding k=10 batched, {cot_tokens} tokens/path", f"{tc:.2f} s"),
        ("cot_decoding k=10 one path at a time", f"{tcs:.2f} s"),
        ("**cot_decoding batched vs sequential**", f"**{tcs / tc:.1f}x faster**"),
    ]


def table(results: dict[str, list[tuple[str, str]]]) -> str:
    """The Markdown table of all models."""
    lines = ["| model | measurement | result |", "| --- | --- | --- |"]
    for model, rows in results.items():
        for label, value in rows:
            lines.append(f"| {model} | {label} | {value} |")
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", help="model paths or ids (default: the tiny model)")
    parser.add_argument("--tokens", type=int, default=128, help="tokens per generation")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    parser.add_argument("--no-write", action="store_true", help="do not edit docs/performance.md")
    args = parser.parse_args(argv)
    import torch

    machine = (
        f"{platform.machine()} with {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)"
    )
    results: dict[str, list[tuple[str, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = list(args.models)
        if not models:
            from optillm_local.testing import build_tiny_model

            tiny = build_tiny_model(Path(tmp), adapters=0)
            results["tiny Llama (64 hidden, 2 layers)"] = await bench_model(
                str(tiny.path), args.tokens, args.repeat
            )
        for model in models:
            results[Path(model).name] = await bench_model(model, args.tokens, args.repeat)
    markdown = table(results)
    print(f"Local engine on {machine}\n")
    print(markdown)
    if not args.no_write:
        names = ", ".join(Path(m).name for m in args.models)
        block = "bench-" + "-".join(Path(m).stem for m in args.models) if args.models else "bench"
        title = f"### Throughput: {names}" if args.models else "### Throughput: tiny model"
        text = (
            f"{title}\n\n"
            "Sampling at temperature 1 with end-of-sequence banned (exact token counts), best of "
            f"{args.repeat} runs, on {machine}.\n\n{markdown}"
        )
        print(f"\nwritten to {update_block(block, text)}")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
