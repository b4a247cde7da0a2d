"""``optillm eval``: run a dataset through several approaches and compare accuracy and cost.

Library use::

    from optillm_eval import EvalOptions, EngineTarget, evaluate, load_items

    items = load_items("questions.jsonl")
    summary = await evaluate(items, ["none", "self_consistency"], EngineTarget(engine, "gpt-4o-mini"),
                             EvalOptions(output="results/"))
"""

from .errors import DatasetError, EvalError, HubUnavailableError
from .grading import Grade, grade
from .items import CodeCase, Item, infer_kind, make_item
from .loaders import load_items
from .report import write_chart, write_tables
from .runner import EvalOptions, EvalSummary, evaluate, run_jobs
from .stats import ApproachStats, summarize, wilson_interval
from .store import Record, ResultStore
from .targets import EngineTarget, ProxyTarget, Target, TargetReply

__all__ = [
    "ApproachStats",
    "CodeCase",
    "DatasetError",
    "EngineTarget",
    "EvalError",
    "EvalOptions",
    "EvalSummary",
    "Grade",
    "HubUnavailableError",
    "Item",
    "ProxyTarget",
    "Record",
    "ResultStore",
    "Target",
    "TargetReply",
    "evaluate",
    "grade",
    "infer_kind",
    "load_items",
    "make_item",
    "run_jobs",
    "summarize",
    "wilson_interval",
    "write_chart",
    "write_tables",
]
