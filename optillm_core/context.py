"""RequestContext: everything a stage needs, and the only way it reaches the upstream."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from .accounting import Budget, Trace, TraceEntry, UsageMeter
from .approach import NoConfig
from .concurrency import gather
from .config import resolve_config
from .errors import InvalidRequestError, OptillmError
from .models import ChatRequest, Message, conversation_text, system_prompt
from .results import ApproachResult, Choice
from .upstream.base import Upstream

if TYPE_CHECKING:
    from .approach import Approach

logger = logging.getLogger(__name__)


@dataclass
class Completion:
    """The parsed answer of one upstream call: its choices, usage and raw body."""

    choices: list[Choice]
    usage: dict[str, Any]
    raw: dict[str, Any]

    @property
    def text(self) -> str:
        """The first choice's text (``""`` when there is none)."""
        return self.choices[0].text if self.choices else ""

    @property
    def finish_reason(self) -> str:
        """The first choice's finish reason."""
        return self.choices[0].finish_reason if self.choices else "stop"


@dataclass
class RequestState:
    """What all stages of one request share."""

    request_id: str
    upstream: Upstream
    budget: Budget
    usage: UsageMeter
    trace: Trace = field(default_factory=Trace)
    settings: Any = None
    #: set once any upstream call of the request has succeeded (keep-alives may start then)
    upstream_ok: bool = False
    #: every upstream call's request and response, kept only when conversations are logged
    calls_log: list[dict[str, Any]] | None = None
    #: the resolved plan, set as soon as it is known (for response headers)
    plan: Any = None
    #: request features removed because an approach could not honour them
    dropped_features: list[str] = field(default_factory=list)
    #: extra response headers set by stages (e.g. ``x-optillm-routed``), plain and streamed
    response_headers: dict[str, str] = field(default_factory=dict)
    log: logging.LoggerAdapter[logging.Logger] = field(
        default_factory=lambda: logging.LoggerAdapter(logger, {})
    )


class ApproachRunner(Protocol):
    """The engine bound to one request: runs another installed approach within it."""

    @property
    def approaches(self) -> Mapping[str, Approach]:
        """The approaches that may be run (installed and allowed)."""

    async def __call__(
        self, slug: str, request: ChatRequest, consume: Collection[str]
    ) -> ApproachResult:
        """Run ``slug`` on ``request``."""


class RequestContext:
    """A stage's view of the request: its input, its config, and metered upstream calls."""

    def __init__(
        self,
        state: RequestState,
        *,
        stage: str,
        request: ChatRequest,
        model: str,
        config: BaseModel | None = None,
        plan_source: str = "default",
        runner: ApproachRunner | None = None,
    ) -> None:
        self.state = state
        self.stage = stage
        self.request = request
        self.model = model
        self.config: Any = config if config is not None else NoConfig()
        #: Where the plan came from: ``body``, ``tag``, ``model``, ``server`` or ``default``, or
        #: ``routed`` for an approach another stage ran with ``run_approach`` (code-executing
        #: approaches refuse ``tag`` unless the operator allows it, and ``routed``).
        self.plan_source = plan_source
        self._runner = runner

    # -- what the stage reads ------------------------------------------------------------
    @property
    def request_id(self) -> str:
        """The request id (also the ``x-request-id`` response header)."""
        return self.state.request_id

    @property
    def usage(self) -> UsageMeter:
        """Usage summed over every upstream call of the request so far."""
        return self.state.usage

    @property
    def budget(self) -> Budget:
        """The request's call and token budget."""
        return self.state.budget

    @property
    def trace(self) -> Trace:
        """The request's trace of upstream calls."""
        return self.state.trace

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that stamps the request id on every line."""
        return self.state.log

    @property
    def upstream(self) -> Upstream:
        """The upstream this request is bound to."""
        return self.state.upstream

    @property
    def messages(self) -> list[Message]:
        """The request's messages (approach tags already stripped)."""
        return self.request.messages

    @property
    def system_prompt(self) -> str:
        """Text of the last system/developer message."""
        return system_prompt(self.request.messages)

    @property
    def query(self) -> str:
        """The conversation flattened to text (the user's text for a single turn)."""
        return conversation_text(self.request.messages)

    def request_params(self, names: Iterable[str]) -> dict[str, Any]:
        """The request's values for ``names`` that the client actually sent."""
        body = self.request.extras
        return {name: body[name] for name in names if body.get(name) is not None}

    def rng(self) -> random.Random:
        """A new random generator for this request, seeded by the body's ``seed`` when the
        client sent one (the same seed gives the same draws), else unseeded.

        Raises ``InvalidRequestError`` (400, ``param="seed"``) when ``seed`` is not an integer
        (a string is accepted as ``random.Random`` accepts it). Approaches that draw from it
        should list ``"seed"`` in their ``features``.
        """
        seed = self.request_params(["seed"]).get("seed")
        if seed is None:
            return random.Random()
        if isinstance(seed, bool) or not isinstance(seed, int | str):
            raise InvalidRequestError("seed must be an integer.", param="seed")
        return random.Random(seed)

    def operator_config(self) -> Any:
        """This stage's parameters as the server operator set them (defaults < server flags,
        environment and TOML), without the request body's values.

        For rules that compare a request's value with the operator's, such as a limit a
        request may lower but not raise. (Parameters a request may not change at all are
        declared with ``param(..., operator_only=True)`` instead.)
        """
        settings = self.state.settings
        options = settings.options_for(self.stage) if settings is not None else {}
        config, _ = resolve_config(self.stage, type(self.config), options, {})
        return config

    def child(self, stage: str, request: ChatRequest, config: BaseModel | None) -> RequestContext:
        """A context for another stage of the same request."""
        return RequestContext(
            self.state,
            stage=stage,
            request=request,
            model=self.model,
            config=config,
            plan_source=self.plan_source,
            runner=self._runner,
        )

    # -- other approaches -------------------------------------------------------------------
    @property
    def installed_approaches(self) -> Mapping[str, Approach]:
        """Approaches this stage may hand the request to with :meth:`run_approach`
        (installed and allowed by the operator; empty outside the engine)."""
        return self._runner.approaches if self._runner is not None else {}

    async def run_approach(
        self, slug: str, request: ChatRequest | None = None, *, consume: Collection[str] = ()
    ) -> ApproachResult:
        """Run the installed approach ``slug`` on ``request`` (default: this stage's request)
        as part of this request: usage, budget, trace and ``n`` as for a plan's own stage.

        Its parameters come from the client's original body and the server options; its body
        keys, and those of the approaches in ``consume`` (others this stage might have picked),
        are not forwarded upstream.
        """
        if self._runner is None:
            raise OptillmError("run_approach is only available to stages run by the engine.")
        if slug == self.stage:
            raise OptillmError(f"Stage {slug!r} cannot run itself.")
        return await self._runner(slug, request or self.request, consume)

    # -- upstream calls -------------------------------------------------------------------
    def _body(self, messages: list[Message] | None, params: dict[str, Any]) -> dict[str, Any]:
        return {"model": self.model, "messages": messages or self.request.messages, **params}

    def _record(
        self, kind: str, started: float, body: dict[str, Any], usage: Any, status: str
    ) -> None:
        usage = usage or {}
        self.trace.add(
            TraceEntry(
                stage=self.stage,
                kind=kind,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                n=int(body.get("n") or 1),
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                status=status,
            )
        )

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """One metered upstream call with a complete body; returns the raw response body."""
        self.budget.reserve(1)
        self.usage.calls += 1
        started = time.perf_counter()
        try:
            raw = await self.upstream.create(body)
        except BaseException as exc:
            self._record("create", started, body, None, type(exc).__name__)
            raise
        self.state.upstream_ok = True
        if self.state.calls_log is not None:
            self.state.calls_log.append({"stage": self.stage, "request": body, "response": raw})
        usage = raw.get("usage")
        self.usage.add(usage)
        if any(c.get("finish_reason") == "length" for c in raw.get("choices") or []):
            self.usage.truncated = True
        self._record("create", started, body, usage, "ok")
        return raw

    def stream_final(self, messages: list[Message], **params: Any) -> ApproachResult | None:
        """The final call as a stream of the request's ``n`` answers, when the client streams
        and one upstream call can give them all (``n == 1`` or native ``n``); else ``None``, and
        the approach answers with finished choices (e.g. from ``sample``)."""
        n = self.request.n
        if not self.request.stream or (n > 1 and not self.upstream.capabilities.n):
            return None
        body: dict[str, Any] = {"model": self.model, "messages": messages, **params}
        if n > 1:
            body["n"] = n
        return ApproachResult(stream=self.stream(body))

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """One metered streaming upstream call; yields the upstream's chunks as they arrive."""
        self.budget.reserve(1)
        self.usage.calls += 1
        started = time.perf_counter()
        usage: dict[str, Any] | None = None
        status = "ok"
        kept: list[dict[str, Any]] | None = [] if self.state.calls_log is not None else None
        try:
            async for chunk in self.upstream.stream(body):
                self.state.upstream_ok = True
                if chunk.get("usage"):
                    usage = chunk["usage"]
                if kept is not None:
                    kept.append(chunk)
                yield chunk
        except BaseException as exc:
            status = type(exc).__name__
            raise
        finally:
            if kept is not None and self.state.calls_log is not None:
                self.state.calls_log.append(
                    {"stage": self.stage, "request": body, "response_chunks": kept}
                )
            self.usage.add(usage)
            self._record("stream", started, body, usage, status)

    async def complete(self, messages: list[Message] | None = None, **params: Any) -> Completion:
        """One chat completion on the bound model (default: the request's own messages)."""
        raw = await self.create(self._body(messages, params))
        return Completion(
            choices=[Choice.from_openai(c) for c in raw.get("choices") or []],
            usage=raw.get("usage") or {},
            raw=raw,
        )

    async def sample(
        self, n: int, messages: list[Message] | None = None, **params: Any
    ) -> list[Choice]:
        """``n`` independent answers: one call with native ``n`` where the upstream has it,
        else (and for whatever a native call fell short by) concurrent single calls."""
        choices: list[Choice] = []
        if n > 1 and self.upstream.capabilities.n:
            choices = (await self.complete(messages, n=n, **params)).choices[:n]
        missing = n - len(choices)
        if missing <= 0:
            return choices
        extra = await gather(
            *(functools.partial(self.complete, messages, **params) for _ in range(missing))
        )
        return choices + [c for completion in extra for c in completion.choices[:1]]
