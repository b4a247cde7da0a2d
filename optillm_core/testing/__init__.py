"""Testing kit for optillm and its plugins: a fake upstream, wiring helpers and the
``ApproachContract`` conformance base class. The pytest plugin adds fixtures."""

from .contract import ApproachContract
from .fake_upstream import FakeUpstream, Fault, Reply, RequestRecord
from .harness import (
    SELECTION_WAYS,
    SelectionWay,
    ServedProxy,
    assert_operator_only,
    make_app,
    make_settings,
    openai_client,
    run_in_process,
    selection_kwargs,
    serve_app,
    serve_app_in_thread,
    served_proxy,
    upstream_for,
)

__all__ = [
    "SELECTION_WAYS",
    "ApproachContract",
    "FakeUpstream",
    "Fault",
    "Reply",
    "RequestRecord",
    "SelectionWay",
    "ServedProxy",
    "assert_operator_only",
    "make_app",
    "make_settings",
    "openai_client",
    "run_in_process",
    "selection_kwargs",
    "serve_app",
    "serve_app_in_thread",
    "served_proxy",
    "upstream_for",
]
