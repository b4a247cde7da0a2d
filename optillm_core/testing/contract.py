"""``ApproachContract``: the checks every approach distribution passes.

Subclass it in three lines::

    class TestMoa(ApproachContract):
        plugin = optillm_moa.plugin
        slug = "moa"

Override ``reply`` (a ``FakeUpstream`` reply source) when the approach needs structured
upstream answers, and ``extra_body`` for parameters that keep the test cheap. Each check says
what is wrong when it fails.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, ClassVar

import anyio
import openai
import pytest

from ..approach import Approach, Processor, Stage
from ..plan import SLUG_PATTERN
from ..plugins import make_plugin_manager
from ..registry import build_registry
from .fake_upstream import FakeUpstream
from .harness import make_app, openai_client

QUESTION = "What is 6 times 7? Answer with a number."


class ApproachContract:
    """Base test class: registration, answers, ``n``, usage, providers without ``n``,
    streaming, config errors and cancellation."""

    plugin: ClassVar[Any]
    slug: ClassVar[str]
    reply: ClassVar[Any] = None
    extra_body: ClassVar[dict[str, Any]] = {}

    # -- helpers --------------------------------------------------------------------------
    def stage(self) -> Stage:
        registry = build_registry(make_plugin_manager(autoload=False, plugins=[self.plugin]))
        assert self.slug in registry.stages, (
            f"plugin {self.plugin!r} does not register slug {self.slug!r} through "
            "register_approaches/register_processors"
        )
        return registry.stages[self.slug]

    def fake(self, **options: Any) -> FakeUpstream:
        return FakeUpstream(type(self).reply, **options)

    async def ask(self, fake: FakeUpstream, **options: Any) -> Any:
        app = make_app(fake, [self.plugin])
        body = {"optillm_approach": self.slug, **self.extra_body, **options.pop("extra_body", {})}
        async with openai_client(app) as client:
            return await client.chat.completions.create(
                model="fake-model",
                messages=[{"role": "user", "content": QUESTION}],
                extra_body=body,
                **options,
            )

    # -- the contract ---------------------------------------------------------------------
    def test_slug_and_documentation(self) -> None:
        """If this fails: the slug must match ^[a-z][a-z0-9_]*$, and the stage needs a summary
        and a module docstring naming its technique."""
        stage = self.stage()
        assert SLUG_PATTERN.match(stage.slug)
        assert stage.summary.strip(), "set a one-line `summary` on the stage class"
        module = sys.modules[type(stage).__module__]
        assert (module.__doc__ or "").strip(), "the stage's module needs a docstring"
        assert isinstance(stage, Approach | Processor)
        assert inspect.iscoroutinefunction(
            stage.run if isinstance(stage, Approach) else stage.__call__
        )

    @pytest.mark.anyio
    async def test_answers_a_request(self) -> None:
        """If this fails: the approach does not produce a normal answer through the server."""
        fake = self.fake()
        response = await self.ask(fake)
        assert response.choices
        assert response.choices[0].message.content is not None
        assert response.choices[0].finish_reason in ("stop", "length", "tool_calls")
        assert fake.call_count >= 1

    @pytest.mark.anyio
    async def test_usage_is_the_sum_of_upstream_calls(self) -> None:
        """If this fails: ``usage`` must add up every upstream call the request made."""
        fake = self.fake()
        response = await self.ask(fake)
        assert response.usage is not None
        assert response.usage.prompt_tokens == fake.prompt_tokens_served
        assert response.usage.completion_tokens == fake.completion_tokens_served
        assert response.usage.total_tokens == (
            fake.prompt_tokens_served + fake.completion_tokens_served
        )

    @pytest.mark.anyio
    async def test_n_returns_n_choices(self) -> None:
        """If this fails: a request with ``n=2`` must get two choices."""
        response = await self.ask(self.fake(), n=2)
        assert len(response.choices) == 2
        assert [c.index for c in response.choices] == [0, 1]

    @pytest.mark.anyio
    async def test_upstream_without_native_n(self) -> None:
        """If this fails: the approach sends ``n>1`` to an upstream that cannot take it; use
        ``ctx.sample(n)``, which fans out where needed."""
        fake = self.fake(supports_n=False)
        response = await self.ask(fake, n=2)
        assert len(response.choices) == 2
        assert all(int(r.body.get("n") or 1) == 1 for r in fake.requests)

    @pytest.mark.anyio
    async def test_streaming(self) -> None:
        """If this fails: ``stream=True`` must give SSE chunks with the answer."""
        fake = self.fake()
        stream = await self.ask(fake, stream=True)
        text = ""
        finishes = 0
        async for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finishes += 1 if choice.finish_reason else 0
        assert finishes == 1
        assert text

    @pytest.mark.anyio
    async def test_bad_parameter_is_a_400(self) -> None:
        """If this fails: a wrongly typed or unknown approach parameter must be a 400, not a
        500 (config models should set ``extra="forbid"`` so typos are caught)."""
        fields = self.stage().Config.model_fields
        bad: dict[str, Any] = (
            {next(iter(fields)): {"bad": []}} if fields else {"no_such_parameter": 1}
        )
        with pytest.raises(openai.BadRequestError) as raised:
            await self.ask(self.fake(), extra_body={"optillm": {self.slug: bad}})
        assert raised.value.status_code == 400

    @pytest.mark.anyio
    async def test_cancellation_reaches_the_upstream(self) -> None:
        """If this fails: cancelling the request must cancel every upstream call under it."""
        fake = self.fake(latency=5.0)
        with anyio.move_on_after(0.5):
            await self.ask(fake)
        with anyio.fail_after(1.0):
            while fake.in_flight:
                await anyio.sleep(0.02)
        assert fake.call_count >= 1
