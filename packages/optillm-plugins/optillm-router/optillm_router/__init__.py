"""optillm approach ``router``: classify the prompt, then run the technique it suits best."""

from __future__ import annotations

from .config import LABELS, RouterConfig
from .plugin import Router, RouterUnavailableError

__all__ = ["LABELS", "Router", "RouterConfig", "RouterUnavailableError"]
