"""pytest fixtures for optillm tests: ``fake_upstream``, ``plugin_manager``, ``app``, ``client``.

Installed with optillm-core through the ``pytest11`` entry point. Async tests use anyio
(``@pytest.mark.anyio``) on asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from ..plugins import PluginManager, make_plugin_manager
from .fake_upstream import FakeUpstream
from .harness import make_app, openai_client


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio."""
    return "asyncio"


@pytest.fixture
def fake_upstream() -> FakeUpstream:
    """A fresh scripted upstream (echo replies, native ``n``, no latency)."""
    return FakeUpstream()


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A fresh plugin manager with only the built-ins (no entry points)."""
    return make_plugin_manager(autoload=False)


@pytest.fixture
def app(fake_upstream: FakeUpstream) -> Any:
    """The proxy app over ``fake_upstream`` with the built-ins and installed plugins."""
    return make_app(fake_upstream, autoload=True)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[openai.AsyncOpenAI]:
    """A real ``AsyncOpenAI`` client calling ``app`` in-process."""
    async with openai_client(app) as c:
        yield c
