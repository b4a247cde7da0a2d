"""Testing kit for optillm and its plugins: a fake upstream, wiring helpers and the
``ApproachContract`` conformance base class. The pytest plugin adds fixtures."""

from .contract import ApproachContract
from .fake_upstream import FakeUpstream, Fault, Reply, RequestRecord
from .harness import (
    make_app,
    make_settings,
    openai_client,
    serve_app,
    serve_app_in_thread,
    upstream_for,
)

__all__ = [
    "ApproachContract",
    "FakeUpstream",
    "Fault",
    "Reply",
    "RequestRecord",
    "make_app",
    "make_settings",
    "openai_client",
    "serve_app",
    "serve_app_in_thread",
    "upstream_for",
]
