"""The HTTP surface: app factory, routes, SSE rendering and ASGI middleware."""

from .app import build_engine, create_app

__all__ = ["build_engine", "create_app"]
