"""optillm core: the plugin contract, the plan grammar, the engine and the server.

Public API only; everything else is an implementation detail.
"""

from .accounting import Budget, Trace, TraceEntry, UsageMeter
from .api import complete
from .approach import Approach, CallNext, NoConfig, Processor, Stage
from .concurrency import gather, task_group
from .config import param
from .context import Completion, RequestContext
from .errors import (
    ApproachError,
    BudgetExceededError,
    ConfigError,
    InvalidRequestError,
    OptillmError,
    UnknownApproachError,
    UpstreamError,
)
from .executor import Engine
from .hookspecs import hookimpl
from .models import ChatRequest
from .plan import Plan
from .plugins import make_plugin_manager
from .registry import Registry, build_registry
from .results import ApproachResult, Choice
from .server import build_engine, create_app
from .settings import Settings
from .upstream import Capabilities, Upstream, UpstreamSpec

__all__ = [
    "Approach",
    "ApproachError",
    "ApproachResult",
    "Budget",
    "BudgetExceededError",
    "CallNext",
    "Capabilities",
    "ChatRequest",
    "Choice",
    "Completion",
    "ConfigError",
    "Engine",
    "InvalidRequestError",
    "NoConfig",
    "OptillmError",
    "Plan",
    "Processor",
    "Registry",
    "RequestContext",
    "Settings",
    "Stage",
    "Trace",
    "TraceEntry",
    "UnknownApproachError",
    "Upstream",
    "UpstreamError",
    "UpstreamSpec",
    "UsageMeter",
    "build_engine",
    "build_registry",
    "complete",
    "create_app",
    "gather",
    "hookimpl",
    "make_plugin_manager",
    "param",
    "task_group",
]
