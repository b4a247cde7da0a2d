"""Errors of ``optillm eval``; the CLI prints them as one line and exits with status 2."""

from __future__ import annotations

from optillm_core import OptillmError


class EvalError(OptillmError):
    """The evaluation cannot run as configured (bad flags, unknown approach, no upstream)."""

    code = "eval_error"


class DatasetError(EvalError):
    """A dataset cannot be found, read or understood."""

    code = "dataset_error"


class HubUnavailableError(DatasetError):
    """A Hugging Face dataset was asked for, but ``datasets`` is missing or the hub unreachable."""

    code = "hub_unavailable"
