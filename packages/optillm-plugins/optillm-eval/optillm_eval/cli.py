"""The ``optillm eval`` command: its flags, where requests go, and the table it prints.

``--base-url`` and ``--model`` are the core options of the same names (``OPTILLM_BASE_URL``,
``OPTILLM_MODEL``); every other core option is accepted after ``eval`` too, as for ``serve``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import anyio
import openai

from optillm_core import Settings, build_engine
from optillm_core.sandbox import Sandbox, SandboxLimits, SandboxOptions
from optillm_core.settings import core_fields, env_names, flag_names

from .errors import EvalError
from .items import AUTO, ITEM_KINDS, Item
from .loaders import dataset_name, load_items, save_items
from .report import markdown_table
from .runner import EvalOptions, EvalSummary, check_approaches, evaluate
from .targets import EngineTarget, ProxyTarget, Target

OWN_CORE_FLAGS = {"model", "base_url"}
DESCRIPTION = """\
Run every item of DATASET through every approach and report, per approach: accuracy with a
95 % Wilson interval, the difference from the baseline (paired, McNemar p), upstream calls,
prompt and completion tokens, p50/p95 latency and cost. Written into --output: results.jsonl
(one line per outcome; re-running skips what is there), summary.md, summary.csv and
accuracy_vs_tokens.png.

Where requests go: a --base-url that is a running optillm proxy runs the approaches there;
any other OpenAI-compatible --base-url, or none (then OPENAI_API_KEY, --upstream, --config
choose the upstream), runs them in this process. --via forces one or the other.

Approach parameters: OPTILLM_<SLUG>_<FIELD> variables, the [<slug>] tables of --config, or
--extra-body '{"optillm": {"<slug>": {...}}}'.
"""


def _core_group(parser: argparse.ArgumentParser) -> None:
    """The core's options after ``eval`` too (as for ``serve``), same names and meaning."""
    group = parser.add_argument_group("engine options (as for 'optillm serve')")
    for f in core_fields():
        if f.metadata.get("env_only") or f.name in OWN_CORE_FLAGS:
            continue
        help_text = f"{f.metadata['help']} (env {env_names(f)[0]})"
        if f.type in (bool, "bool"):
            group.add_argument(
                *flag_names(f),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(
                *flag_names(f), dest=f.name, default=argparse.SUPPRESS, help=help_text
            )


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``eval`` to the ``optillm`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="Run a dataset through approaches; compare accuracy, tokens, latency and cost.",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "dataset",
        help="JSONL/CSV/JSON file, a recipe (gsm8k, math500, aime2024, gpqa) or hf:OWNER/NAME[:CONFIG].",
    )
    add(
        "--approaches",
        dest="eval_approaches",
        metavar="LIST",
        default="none",
        help="Comma-separated approaches or plans (default: none), e.g. none,moa,bon,self_consistency.",
    )
    add(
        "--model",
        dest="model",
        default=argparse.SUPPRESS,
        help="Model to evaluate (env OPTILLM_MODEL).",
    )
    add(
        "--base-url",
        "--base_url",
        dest="base_url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="An optillm proxy or any OpenAI-compatible server (env OPTILLM_BASE_URL); see --via.",
    )
    add(
        "--via",
        dest="eval_via",
        choices=("auto", "proxy", "engine"),
        default="auto",
        help="proxy: send to the --base-url proxy; engine: run approaches here; auto (default): proxy when --base-url is an optillm proxy.",
    )
    add(
        "--api-key",
        dest="eval_api_key",
        metavar="KEY",
        default=None,
        help="Key for a --via proxy server (default: OPTILLM_API_KEY, else OPENAI_API_KEY).",
    )
    add(
        "--output",
        "-o",
        dest="eval_output",
        metavar="DIR",
        default=None,
        help="Folder for results.jsonl, summary.md/.csv and the chart (default: eval-<dataset>).",
    )
    add(
        "--concurrency",
        "-j",
        dest="eval_concurrency",
        metavar="N",
        type=_positive(int),
        default=8,
        help="Requests in flight at once (default 8).",
    )
    add(
        "--limit",
        dest="eval_limit",
        metavar="N",
        type=_positive(int),
        default=None,
        help="Evaluate only the first N items.",
    )
    add(
        "--type",
        dest="eval_kind",
        metavar="TYPE",
        choices=sorted(ITEM_KINDS | {AUTO}),
        default=AUTO,
        help="Checker for items without a 'type' (default auto: number/LaTeX -> math, letter -> mcq, else exact).",
    )
    add(
        "--temperature",
        dest="eval_temperature",
        metavar="T",
        type=float,
        default=None,
        help="Temperature sent with every request.",
    )
    add(
        "--max-tokens",
        dest="eval_max_tokens",
        metavar="N",
        type=_positive(int),
        default=None,
        help="max_tokens sent with every request.",
    )
    add(
        "--extra-body",
        dest="eval_extra_body",
        metavar="JSON",
        default=None,
        help='JSON object merged into every request, e.g. \'{"optillm": {"moa": {"rounds": 2}}}\'.',
    )
    add(
        "--system",
        dest="eval_system",
        metavar="TEXT",
        default="",
        help="System prompt for items without their own.",
    )
    add(
        "--no-instructions",
        dest="eval_instructions",
        action="store_false",
        help="Send the bare question, without the answer-format line.",
    )
    add(
        "--timeout",
        dest="eval_timeout",
        metavar="SECONDS",
        type=_positive(float),
        default=None,
        help="Seconds one request may take (default: --request-timeout, 600).",
    )
    add(
        "--code-timeout",
        dest="eval_code_timeout",
        metavar="SECONDS",
        type=_positive(float),
        default=10.0,
        help="Seconds a code item's program may run per test (default 10).",
    )
    add(
        "--price-prompt",
        dest="eval_price_prompt",
        metavar="USD",
        type=float,
        default=None,
        help="USD per 1M prompt tokens (adds cost columns).",
    )
    add(
        "--price-completion",
        dest="eval_price_completion",
        metavar="USD",
        type=float,
        default=None,
        help="USD per 1M completion tokens.",
    )
    add(
        "--baseline",
        dest="eval_baseline",
        metavar="APPROACH",
        default=None,
        help="Approach the others are compared with (default: none if evaluated, else the first).",
    )
    add(
        "--fresh",
        dest="eval_fresh",
        action="store_true",
        help="Discard stored results instead of resuming.",
    )
    add("--no-chart", dest="eval_chart", action="store_false", help="Do not draw the PNG chart.")
    add(
        "--no-progress",
        dest="eval_progress",
        action="store_false",
        help="No progress line on stderr.",
    )
    add(
        "--no-responses",
        dest="eval_responses",
        action="store_false",
        help="Do not keep reply texts in results.jsonl.",
    )
    add(
        "--save-dataset",
        dest="eval_save_dataset",
        metavar="FILE",
        default=None,
        help="Also write all items of the dataset (--limit aside) to this JSONL file, e.g. to evaluate a hub dataset offline later.",
    )
    hub = parser.add_argument_group("Hugging Face datasets (pip install 'optillm-eval[hub]')")
    hub.add_argument(
        "--split",
        dest="eval_split",
        metavar="SPLIT",
        default=None,
        help="Split (default: the recipe's, else test).",
    )
    hub.add_argument(
        "--question-column",
        dest="eval_question_column",
        metavar="COLUMN",
        default=None,
        help="Question column of an hf: dataset (default question).",
    )
    hub.add_argument(
        "--answer-column",
        dest="eval_answer_column",
        metavar="COLUMN",
        default=None,
        help="Answer column of an hf: dataset (default answer).",
    )
    _core_group(parser)
    parser.set_defaults(func=main)
    return parser


async def open_target(
    settings: Settings, via: str, api_key: str | None, request_timeout: float | None = None
) -> tuple[Target, str]:
    """Where requests go, and a phrase saying so for the report.

    ``via="auto"``: a ``base_url`` that lists ``/v1/optillm/approaches`` is an optillm proxy
    (approaches run there); any other ``base_url``, or none, gets the engine in this process.
    """
    url = settings.base_url
    if via == "proxy" and not url:
        raise EvalError("--via proxy needs --base-url (the proxy's …/v1 URL)")
    if url and via in ("auto", "proxy"):
        client = openai.AsyncOpenAI(
            base_url=url,
            api_key=api_key or settings.optillm_api_key or settings.openai_api_key or "none",
            max_retries=settings.upstream_max_retries,
            timeout=request_timeout or settings.request_timeout,
        )
        proxy = ProxyTarget(client, settings.model)
        if via == "proxy":
            return proxy, f"optillm proxy at {url}"
        try:
            installed = await proxy.installed()
        except openai.APIError as exc:
            await client.close()
            raise EvalError(f"Cannot use {url}: {exc}") from exc
        if installed is not None:
            return proxy, f"optillm proxy at {url}"
        await client.close()
    engine, _ = build_engine(settings)
    where = url or f"the '{engine.upstream.name}' upstream"
    return EngineTarget(engine, settings.model), f"approaches run in-process on {where}"


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.eval_extra_body:
        try:
            extra = json.loads(args.eval_extra_body)
        except ValueError as exc:
            raise EvalError(f"--extra-body is not JSON: {exc}") from exc
        if not isinstance(extra, dict):
            raise EvalError("--extra-body must be a JSON object")
        params.update(extra)
    if args.eval_temperature is not None:
        params["temperature"] = args.eval_temperature
    if args.eval_max_tokens is not None:
        params["max_tokens"] = args.eval_max_tokens
    return params


def _options(args: argparse.Namespace, settings: Settings, notes: list[str]) -> EvalOptions:
    name = dataset_name(args.dataset)
    return EvalOptions(
        output=args.eval_output or f"eval-{name}",
        concurrency=args.eval_concurrency,
        params=_params(args),
        system=args.eval_system,
        instructions=args.eval_instructions,
        timeout=args.eval_timeout or settings.request_timeout or None,
        code_timeout=args.eval_code_timeout,
        sandbox=Sandbox(
            SandboxLimits(timeout=args.eval_code_timeout),
            SandboxOptions(allow_no_network_isolation=settings.sandbox_allow_no_network_isolation),
        ),
        price_prompt=args.eval_price_prompt,
        price_completion=args.eval_price_completion,
        baseline=args.eval_baseline,
        chart=args.eval_chart,
        store_responses=args.eval_responses,
        fresh=args.eval_fresh,
        progress=sys.stderr if args.eval_progress else None,
        title=f"optillm eval: {name} with {settings.model}",
        notes=notes,
    )


def load(args: argparse.Namespace) -> list[Item]:
    """The dataset's items (and a JSONL copy of all of them with ``--save-dataset``)."""
    items = load_items(
        args.dataset,
        default_kind=args.eval_kind,
        hub_options={
            "split": args.eval_split,
            "question_column": args.eval_question_column,
            "answer_column": args.eval_answer_column,
        },
    )
    if args.eval_save_dataset:
        save_items(items, Path(args.eval_save_dataset).expanduser())
    return items[: args.eval_limit] if args.eval_limit else items


async def run(args: argparse.Namespace, settings: Settings, items: list[Item]) -> EvalSummary:
    """Choose the target, evaluate, write the reports."""
    approaches = check_approaches(args.eval_approaches.split(","))
    target, where = await open_target(settings, args.eval_via, args.eval_api_key, args.eval_timeout)
    notes = [f"{len(items)} items from `{args.dataset}`, model `{settings.model}`, {where}."]
    if args.eval_price_prompt is not None or args.eval_price_completion is not None:
        notes.append(
            f"Prices: ${args.eval_price_prompt or 0:g} prompt, "
            f"${args.eval_price_completion or 0:g} completion per 1M tokens."
        )
    try:
        return await evaluate(items, approaches, target, _options(args, settings, notes))
    finally:
        await target.aclose()


def main(args: argparse.Namespace) -> int:
    """``optillm eval``: exit status 0 when the evaluation finished (whatever the scores)."""
    settings: Settings = args.settings
    items = load(args)
    try:
        summary = anyio.run(run, args, settings, items)
    except KeyboardInterrupt:
        print(
            "\noptillm eval: interrupted; finished outcomes are saved, run the same command "
            "again to resume.",
            file=sys.stderr,
        )
        return 130
    print(markdown_table(summary.rows, baseline=summary.baseline))
    chart = f", {summary.chart}" if summary.chart else ""
    print(
        f"{summary.new_outcomes} new and {summary.reused_outcomes} stored outcomes; "
        f"wrote {summary.results}, {summary.markdown}, {summary.csv}{chart}",
        file=sys.stderr,
    )
    return 0
