"""Shared wiring for the litellm upstream's tests: the real proxy app, upstream ``litellm``,
LiteLLM's ``openai/<model>`` provider pointed at a ``FakeUpstream`` served on loopback."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

# LiteLLM would fetch its price map from the internet at import time without this.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import openai

from optillm_core import create_app
from optillm_core.testing import FakeUpstream, make_settings, openai_client
from optillm_litellm import plugin

#: The provider key LiteLLM reads from its own environment variable in these tests.
PROVIDER_KEY = "sk-litellm-test"
#: LiteLLM's syntax for "an OpenAI-compatible server at api_base": provider ``openai``.
MODEL = "openai/fake-model"


@contextlib.asynccontextmanager
async def proxy(
    fake: FakeUpstream, plugins: tuple[object, ...] = (), **settings: Any
) -> AsyncIterator[openai.AsyncOpenAI]:
    """An ``AsyncOpenAI`` client on the proxy app whose upstream is ``litellm`` → ``fake``."""
    async with fake.serve() as url:
        values: dict[str, Any] = {"upstream": "litellm", "base_url": url, **settings}
        app = create_app(make_settings(**values), [plugin, *plugins], autoload=False)
        async with openai_client(app) as client:
            yield client
