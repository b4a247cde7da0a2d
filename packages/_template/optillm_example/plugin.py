"""The example approach ``example_echo``: one upstream call with an optional system prefix.

Technique: none (a template). Paper: none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from optillm_core import Approach, ApproachResult, RequestContext, hookimpl, param


class ExampleConfig(BaseModel):
    """Parameters of ``example_echo``."""

    model_config = ConfigDict(extra="forbid")

    prefix: str = param("", "Text prepended to the system prompt.")


class ExampleEcho(Approach):
    """Asks the upstream once; shows config, sampling and result building."""

    slug = "example_echo"
    summary = "Template approach: one upstream call with an optional system prefix."
    Config = ExampleConfig
    hidden = True
    handles_n = True

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Sample ``n`` answers in one round (native ``n`` where the upstream has it)."""
        system = (ctx.config.prefix + " " + ctx.system_prompt).strip()
        messages = [{"role": "system", "content": system}] if system else []
        messages += [m for m in ctx.messages if m.get("role") not in ("system", "developer")]
        choices = await ctx.sample(ctx.request.n, messages, **ctx.request_params(["temperature"]))
        return ApproachResult(choices=choices)


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``example_echo``."""
    register(ExampleEcho())
