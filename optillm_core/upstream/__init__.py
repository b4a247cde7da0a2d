"""Upstream model servers: the protocol every provider implements, and the built-in ones."""

from .base import Capabilities, Upstream, UpstreamSpec

__all__ = ["Capabilities", "Upstream", "UpstreamSpec"]
