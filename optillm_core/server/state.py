"""What the server keeps per app: the engine, metrics, the conversation log, drain state."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..executor import Engine
from ..plugins import PluginManager
from .observe import ConversationLog, Metrics


@dataclass
class ServerState:
    """Per-app state, created by ``create_app`` (never module-global)."""

    engine: Engine
    plugin_manager: PluginManager
    metrics: Metrics = field(default_factory=Metrics)
    conversations: ConversationLog | None = None
    ready: bool = False
    draining: bool = False
