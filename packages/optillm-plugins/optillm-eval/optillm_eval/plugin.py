"""The ``optillm eval`` command, contributed through the ``register_commands`` hook.

Not an approach: it measures approaches. It runs a dataset through several of them (in this
process or on a running proxy) and reports accuracy with a Wilson 95 % interval, upstream calls,
tokens, latency and cost, as Markdown, CSV and a chart.
"""

from __future__ import annotations

from typing import Any

from optillm_core import hookimpl

from .cli import add_parser


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Add ``optillm eval``."""
    add_parser(subparsers)
