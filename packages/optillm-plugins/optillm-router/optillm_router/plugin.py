"""The approach ``router``: a classifier picks the technique for each prompt, which then runs.

Technique: learned technique routing — a ModernBERT-large encoder fine-tuned (with a scalar
"effort" input) to predict which of 13 optillm techniques answers a prompt best; the prompt is
then answered by the predicted technique, with the request's own parameters. Paper: none (the
reference's classifier ``codelion/optillm-modernbert-large``, trained on Arena-Hard rankings;
ModernBERT: Warner et al. 2024, https://arxiv.org/abs/2412.13663).

Guarantees: torch and transformers load on first use, in a worker thread, once per router
instance (cached, behind an ``anyio.Lock``); classification runs in a worker thread too. A label
that is not installed falls to the next most probable installed one. A classifier that cannot be
loaded refuses the request (503 naming the model) or, when the operator set ``fallback``, runs
that approach and says so — never a silent plain call. The response header ``x-optillm-routed``
and a ``route`` trace entry name the approach and its probability.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.to_thread

from optillm_core import (
    Approach,
    ApproachResult,
    OptillmError,
    RequestContext,
    TraceEntry,
    hookimpl,
)
from optillm_core.features import FIELDS, requested

from .config import LABELS, NOT_ROUTED, RouterConfig
from .routing import Route, choose

if TYPE_CHECKING:
    from optillm_core import Registry

    from .classifier import ClassifierSource, LoadedClassifier

logger = logging.getLogger(__name__)

#: Response header naming the routed approach and its probability (``moa;p=0.83``).
ROUTED_HEADER = "x-optillm-routed"


class RouterUnavailableError(OptillmError):
    """The classifier could not be loaded and no fallback is configured (503)."""

    status = 503
    type = "service_unavailable"
    code = "router_model_unavailable"


def _default_loader(source: ClassifierSource) -> LoadedClassifier:
    from .classifier import load_classifier

    return load_classifier(source)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Router(Approach):
    """Classifies the prompt, then hands the request to the chosen installed approach.

    ``loader(source)`` loads a classifier (blocking; called in a worker thread). Loaded
    classifiers are kept per source for the life of this instance; a failure is remembered for
    ``load_retry_seconds``, so an unavailable model costs later requests nothing.
    """

    slug = "router"
    summary = "Picks the technique for each prompt with a ModernBERT classifier and runs it."
    paper = None
    Config = RouterConfig
    handles_n: ClassVar[bool] = True
    #: every feature: the router skips labels whose approach cannot honour the request's
    features = frozenset({*FIELDS, "images"})

    def __init__(self, loader: Callable[[ClassifierSource], LoadedClassifier] | None = None):
        self._loader = loader or _default_loader
        self._loaded: dict[ClassifierSource, LoadedClassifier] = {}
        self._failed: dict[ClassifierSource, tuple[float, str]] = {}
        self._lock = anyio.Lock()
        self._limiter: anyio.CapacityLimiter | None = None

    def describe(self, registry: Registry | None = None) -> dict[str, Any]:
        """The usual description plus the label set and which labels are installed."""
        installed = set(registry.approaches) if registry is not None else None
        labels: list[dict[str, Any]] = []
        for label in LABELS:
            row: dict[str, Any] = {
                "label": label,
                "installed": None if installed is None else label in installed,
            }
            if label in NOT_ROUTED:
                row["note"] = NOT_ROUTED[label]
            labels.append(row)
        return {**super().describe(registry), "labels": labels}

    # -- the classifier --------------------------------------------------------------------
    def _load_into_cache(self, source: ClassifierSource) -> None:
        try:
            loaded = self._loader(source)
        except Exception as exc:
            self._failed[source] = (time.monotonic(), _reason(exc))
            logger.warning(
                "router: classifier %r could not be loaded: %s", source.model_path, _reason(exc)
            )
            return
        self._loaded[source] = loaded
        self._failed.pop(source, None)

    async def classifier(self, ctx: RequestContext, config: RouterConfig) -> LoadedClassifier:
        """The classifier for ``config``, loaded on first use in a worker thread; raises
        ``RouterUnavailableError`` naming the model when it cannot be loaded."""
        from .classifier import ClassifierSource

        source = ClassifierSource.of(config)
        loaded = self._loaded.get(source)
        if loaded is not None:
            return loaded
        async with self._lock:
            failed = self._failed.get(source)
            due = failed is None or time.monotonic() - failed[0] >= config.load_retry_seconds
            if source not in self._loaded and due:
                started = time.perf_counter()
                await anyio.to_thread.run_sync(self._load_into_cache, source)
                ctx.trace.add(
                    TraceEntry(
                        stage=ctx.stage,
                        kind="load",
                        latency_ms=round((time.perf_counter() - started) * 1000, 3),
                        status="ok" if source in self._loaded else "failed",
                        detail=config.model_path,
                    )
                )
        loaded = self._loaded.get(source)
        if loaded is None:
            reason = self._failed.get(source, (0.0, "unknown error"))[1]
            raise RouterUnavailableError(
                f"router: the classifier model {config.model_path!r} could not be loaded "
                f"({reason}). Make it available (download it, or set --router-model-path / "
                "OPTILLM_ROUTER_MODEL_PATH to a local copy), or set --router-fallback to an "
                "approach to use meanwhile.",
                headers={"retry-after": str(max(1, round(config.load_retry_seconds)))},
            )
        return loaded

    def _inference_limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter

    async def classify(
        self, ctx: RequestContext, classifier: LoadedClassifier, config: RouterConfig
    ) -> list[float]:
        """The probability of every label for this request (in a worker thread)."""
        text = f"{ctx.system_prompt}\n\nUser: {ctx.query}"
        work = functools.partial(classifier.predict, text, config.effort, config.max_length)
        try:
            return await anyio.to_thread.run_sync(
                work, limiter=self._inference_limiter(), abandon_on_cancel=True
            )
        except Exception as exc:
            ctx.log.exception("router: classification failed")
            raise OptillmError(
                f"router: the classifier failed on this request ({_reason(exc)}).",
                code="router_classification_failed",
            ) from exc

    # -- the request -----------------------------------------------------------------------
    def _announce(self, ctx: RequestContext, header: str) -> None:
        headers = ctx.state.response_headers
        previous = headers.get(ROUTED_HEADER)
        headers[ROUTED_HEADER] = f"{previous}, {header}" if previous else header

    async def _fallback(
        self, ctx: RequestContext, config: RouterConfig, error: RouterUnavailableError
    ) -> ApproachResult:
        if config.fallback not in ctx.installed_approaches:
            raise RouterUnavailableError(
                f"{error.message} The configured fallback {config.fallback!r} is not installed "
                "or not allowed either.",
                headers=error.headers,
            )
        ctx.trace.add(
            TraceEntry(
                stage=ctx.stage,
                kind="route",
                latency_ms=0.0,
                status="fallback",
                detail=f"{config.fallback} (fallback: classifier {config.model_path!r} "
                "unavailable)",
            )
        )
        self._announce(ctx, f"{config.fallback};fallback")
        ctx.log.warning("router: classifier unavailable, using fallback %s", config.fallback)
        return await ctx.run_approach(config.fallback, consume=LABELS)

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Classify, pick the most probable runnable label, run it on the request."""
        config: RouterConfig = ctx.config
        try:
            classifier = await self.classifier(ctx, config)
        except RouterUnavailableError as error:
            if not config.fallback:
                raise
            return await self._fallback(ctx, config, error)
        started = time.perf_counter()
        probabilities = await self.classify(ctx, classifier, config)
        route: Route = choose(probabilities, ctx.installed_approaches, requested(ctx.request))
        ctx.trace.add(
            TraceEntry(
                stage=ctx.stage,
                kind="route",
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                detail=route.detail,
            )
        )
        self._announce(ctx, route.header)
        ctx.log.info("router: %s", route.detail)
        return await ctx.run_approach(route.slug, consume=LABELS)


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``router``."""
    register(Router())
