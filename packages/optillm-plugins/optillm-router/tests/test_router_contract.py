"""The approach contract, with the router routing every prompt to ``moa``."""

from __future__ import annotations

from typing import Any

from router_testkit import build_classifier, router_app

from optillm_core.testing import ApproachContract, FakeUpstream, openai_client
from optillm_core.testing.contract import QUESTION
from optillm_moa import plugin as moa_plugin
from optillm_router import plugin


class TestRouterContract(ApproachContract):
    plugin = plugin
    slug = "router"

    async def ask(self, fake: FakeUpstream, **options: Any) -> Any:
        """As the base class, with a saved classifier that picks ``moa`` and moa installed."""
        app = router_app(fake, [moa_plugin], model_path=build_classifier({"moa": 5.0}))
        body = {"optillm_approach": self.slug, **options.pop("extra_body", {})}
        async with openai_client(app) as client:
            return await client.chat.completions.create(
                model="fake-model",
                messages=[{"role": "user", "content": QUESTION}],
                extra_body=body,
                **options,
            )
