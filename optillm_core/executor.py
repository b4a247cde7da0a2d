"""The engine: resolves a request's plan and runs it over the frozen registry.

Pipelines run left to right: a processor wraps everything to its right; an approach followed by
more stages hands on its answer as the new last user message; a plan ending in a processor gets
an implicit final ``none``. Branches (``x|y``) and the ``n`` copies of an approach that does not
handle ``n`` itself run concurrently.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from . import features
from . import plan as plan_mod
from .accounting import Budget, UsageMeter
from .approach import Approach
from .concurrency import gather
from .config import body_keys, resolve_config
from .context import RequestContext, RequestState
from .errors import ApproachError, InvalidRequestError, OptillmError, UnknownApproachError
from .models import ChatRequest, replace_last_user
from .registry import Registry
from .results import ApproachResult, merge_results
from .settings import Settings
from .upstream.base import Upstream

logger = logging.getLogger(__name__)

RESERVED_KEYS = frozenset({"optillm_approach", "optillm"})


@dataclass
class Outcome:
    """What running a request produced, plus what the server reports about it."""

    result: ApproachResult
    plan: plan_mod.Plan
    model: str
    state: RequestState


@dataclass
class PreparedRequest:
    """A resolved request: plan, forwardable request and each stage's validated config."""

    plan: plan_mod.Plan
    request: ChatRequest
    configs: dict[str, BaseModel]
    dropped_features: list[str]
    #: the client's extra body fields before the plan's stages consumed theirs (a stage that
    #: runs another approach, such as a router, validates that approach's config from them)
    original_extras: dict[str, Any] = field(default_factory=dict)
    #: set for an approach run on another stage's behalf (``RequestContext.run_approach``): its
    #: ``plan_source`` is ``"routed"``, which is not an explicit choice of code execution
    routed: bool = False


class Engine:
    """Runs chat requests through plans; one per app, shared by all requests."""

    def __init__(self, registry: Registry, upstream: Upstream, settings: Settings) -> None:
        self.registry = registry
        self.upstream = upstream
        self.settings = settings

    # -- preparation ----------------------------------------------------------------------
    def prepare(self, request: ChatRequest) -> PreparedRequest:
        """Resolve the plan, validate every stage's config, strip consumed body keys."""
        settings = self.settings
        extras = request.extras
        resolution = plan_mod.resolve(
            model=request.model,
            messages=request.messages,
            known=self.registry.slugs,
            body_approach=extras.get("optillm_approach"),
            server_approach=settings.approach,
            default_model=settings.model,
            allowed=settings.allowed_approaches or None,
            max_stages=settings.max_stages,
        )
        n = request.n if "n" in request.model_fields_set else settings.n
        if n > settings.max_n:
            raise InvalidRequestError(
                f"n={n} is more than this server allows ({settings.max_n}).", param="n"
            )
        configs: dict[str, BaseModel] = {}
        consumed: set[str] = set(RESERVED_KEYS)
        for slug in resolution.plan.slugs:
            stage = self.registry.stages[slug]
            configs[slug], used = resolve_config(
                slug, stage.Config, settings.options_for(slug), extras
            )
            consumed |= used
        body = {k: v for k, v in request.body().items() if k not in consumed}
        body.update(model=resolution.model, messages=resolution.messages)
        if "n" not in request.model_fields_set and settings.n != 1:
            body["n"] = settings.n  # the server's default n (--n)
        approaches = [
            self.registry.approaches[slug]
            for slug in resolution.plan.slugs
            if slug in self.registry.approaches
        ]
        forwarded, dropped = features.enforce(
            ChatRequest.model_construct(**body),
            approaches,
            drop=settings.drop_unsupported_features,
        )
        return PreparedRequest(resolution.plan, forwarded, configs, dropped, dict(extras))

    def is_passthrough(self, request: ChatRequest) -> bool:
        """Whether the request resolves to the plain ``none`` plan (no middleware either)."""
        if self.registry.middleware:
            return False
        try:
            return self.prepare(request).plan.is_passthrough
        except OptillmError:
            return False

    def new_state(
        self, request_id: str | None = None, upstream_api_key: str | None = None
    ) -> RequestState:
        """Fresh per-request bookkeeping; ``upstream_api_key`` rebinds the upstream to a
        client's own key (only when the operator enabled key forwarding)."""
        meter = UsageMeter()
        budget = Budget(
            max_calls=self.settings.max_upstream_calls or None,
            max_tokens=self.settings.max_request_tokens or None,
            meter=meter,
        )
        rid = request_id or f"req-{uuid.uuid4().hex[:16]}"
        log = logging.LoggerAdapter(logger, {"request_id": rid})
        upstream = self.upstream
        if upstream_api_key:
            upstream = upstream.with_api_key(upstream_api_key)
        state = RequestState(rid, upstream, budget, meter, settings=self.settings, log=log)
        if self.settings.log_conversations:
            state.calls_log = []
        return state

    # -- running --------------------------------------------------------------------------
    async def run(
        self,
        request: ChatRequest,
        *,
        request_id: str | None = None,
        state: RequestState | None = None,
    ) -> Outcome:
        """Run one request (middleware outermost); a stream in the result is not consumed yet."""
        state = state or self.new_state(request_id)
        prepared: list[PreparedRequest] = []

        async def innermost(req: ChatRequest) -> ApproachResult:
            ready = self.prepare(req)
            prepared.append(ready)
            state.plan = ready.plan
            state.dropped_features = ready.dropped_features
            return await self.run_plan(ready, state)

        call: Callable[[ChatRequest], Awaitable[ApproachResult]] = innermost
        for middleware in reversed(self.registry.middleware):
            call = _wrap(middleware, call)
        result = await call(request)
        ready = prepared[-1] if prepared else self.prepare(request)
        return Outcome(result, ready.plan, ready.request.model, state)

    async def run_plan(self, prepared: PreparedRequest, state: RequestState) -> ApproachResult:
        """Run every branch concurrently and join their choices branch-major."""
        n = prepared.request.n
        branches = prepared.plan.branches
        if len(branches) == 1:
            return await self.run_pipeline(branches[0], prepared, state)
        results = await gather(
            *(functools.partial(self.run_pipeline, branch, prepared, state) for branch in branches)
        )
        return merge_results(results, [n] * len(results))

    async def run_pipeline(
        self, stages: tuple[str, ...], prepared: PreparedRequest, state: RequestState
    ) -> ApproachResult:
        """Run one pipeline of stages left to right."""
        registry = self.registry

        async def run_from(i: int, request: ChatRequest) -> ApproachResult:
            if i == len(stages):
                return await self.run_approach(plan_mod.PASSTHROUGH, request, prepared, state)
            slug = stages[i]
            if slug in registry.processors:
                ctx = self.context(state, slug, request, prepared)
                return await registry.processors[slug](
                    ctx, request, lambda req: run_from(i + 1, req)
                )
            if i == len(stages) - 1:
                return await self.run_approach(slug, request, prepared, state)
            single = request.model_copy(update={"n": 1, "stream": False})
            answer = await (await self.run_approach(slug, single, prepared, state)).collect()
            if not answer.choices or answer.choices[0].content is None:
                raise ApproachError(f"Stage {slug!r} produced no answer to hand on.")
            handed = replace_last_user(request.messages, answer.choices[0].text)
            return await run_from(i + 1, request.with_messages(handed))

        return await run_from(0, prepared.request)

    async def run_approach(
        self, slug: str, request: ChatRequest, prepared: PreparedRequest, state: RequestState
    ) -> ApproachResult:
        """Run one approach; ``n`` copies concurrently unless it handles ``n`` itself."""
        approach = self.registry.approaches[slug]
        n = request.n
        if n == 1 or approach.handles_n:
            return await approach.run(self.context(state, slug, request, prepared))
        single = request.model_copy(update={"n": 1})
        results = await gather(
            *(
                functools.partial(approach.run, self.context(state, slug, single, prepared))
                for _ in range(n)
            )
        )
        return merge_results(results, [1] * n)

    def runnable_approaches(self) -> Mapping[str, Approach]:
        """Installed approaches a stage may hand a request to (``--allowed-approaches``, when
        set, restricts them; ``none`` is always runnable)."""
        allowed = set(self.settings.allowed_approaches or ())
        return {
            slug: approach
            for slug, approach in self.registry.approaches.items()
            if not allowed or slug in allowed or slug == plan_mod.PASSTHROUGH
        }

    async def run_routed(
        self,
        slug: str,
        request: ChatRequest,
        prepared: PreparedRequest,
        state: RequestState,
        consume: Collection[str] = (),
    ) -> ApproachResult:
        """Run approach ``slug`` (not a stage of the plan) on ``request`` for another stage.

        Its config is validated from the client's original body (defaults < server options <
        flat keys < ``optillm.<slug>``); its body keys, and those of the approaches named in
        ``consume``, are removed from the request so they never go upstream; request features
        it cannot honour are refused or dropped as for a plan's own stages.
        """
        approach = self.runnable_approaches().get(slug)
        if approach is None:
            raise UnknownApproachError(f"Approach {slug!r} is not installed or not allowed.")
        extras = prepared.original_extras
        config = prepared.configs.get(slug)
        if config is None:
            config, _ = resolve_config(
                slug, approach.Config, self.settings.options_for(slug), extras
            )
        strip: set[str] = set()
        for name in {slug, *consume}:
            stage = self.registry.stages.get(name)
            if stage is not None:
                strip |= set(body_keys(stage.Config)) & set(extras)
        body = {k: v for k, v in request.body().items() if k not in strip}
        forwarded, dropped = features.enforce(
            ChatRequest.model_construct(**body),
            [approach],
            drop=self.settings.drop_unsupported_features,
        )
        if dropped:
            state.dropped_features = sorted({*state.dropped_features, *dropped})
        routed = dataclasses.replace(
            prepared, configs={**prepared.configs, slug: config}, routed=True
        )
        return await self.run_approach(slug, forwarded, routed, state)

    def context(
        self, state: RequestState, slug: str, request: ChatRequest, prepared: PreparedRequest
    ) -> RequestContext:
        """A stage's context on the request's upstream model."""
        config = prepared.configs.get(slug)
        if config is None:  # the implicit final ``none``
            config = self.registry.stages[slug].Config()
        return RequestContext(
            state,
            stage=slug,
            request=request,
            model=request.model,
            config=config,
            plan_source="routed" if prepared.routed else prepared.plan.source,
            runner=_Runner(self, prepared, state),
        )


class _Runner:
    """What ``RequestContext.run_approach`` calls: the engine bound to one request."""

    def __init__(self, engine: Engine, prepared: PreparedRequest, state: RequestState) -> None:
        self.engine = engine
        self.prepared = prepared
        self.state = state

    @property
    def approaches(self) -> Mapping[str, Approach]:
        """The approaches a stage may run."""
        return self.engine.runnable_approaches()

    async def __call__(
        self, slug: str, request: ChatRequest, consume: Collection[str]
    ) -> ApproachResult:
        """Run ``slug`` on ``request`` within this request."""
        return await self.engine.run_routed(slug, request, self.prepared, self.state, consume)


def _wrap(
    middleware: Callable[..., Any], call_next: Callable[[ChatRequest], Awaitable[ApproachResult]]
) -> Callable[[ChatRequest], Awaitable[ApproachResult]]:
    async def wrapped(request: ChatRequest) -> ApproachResult:
        result: ApproachResult = await middleware(request, call_next)
        return result

    return wrapped
