"""The processor ``privacy``: PII anonymization with reversible, per-request placeholders.

Technique: detect personal data with Microsoft Presidio (pattern recognizers, a name heuristic
and, when a spaCy model is installed, NER), replace every value by a placeholder before the
request goes upstream, and put the values back into the answer (streamed answers too).
Paper: none (Presidio, https://microsoft.github.io/presidio/).

Guarantees: every text of the request that goes upstream passes through the anonymizer (all
roles, content parts, tool calls and results — see ``walk``); if the analyzer cannot be built,
the request is refused (503), never sent in clear; presidio runs in worker threads, never on
the event loop; the placeholder map lives for one request and is never logged. Detection recall
is best effort (see the README).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from optillm_core import (
    ApproachResult,
    CallNext,
    ChatRequest,
    OptillmError,
    Processor,
    RequestContext,
    TraceEntry,
    hookimpl,
)

from .analyzer import NER_OFF, Analyzer, AnalyzerFactory, build_analyzer, mask_texts
from .config import PrivacyConfig, effective_config
from .placeholders import PlaceholderMap
from .restore import restore_result
from .walk import request_texts, rewrite_request


class PrivacyUnavailableError(OptillmError):
    """The request was refused because it could not be anonymized (503)."""

    status = 503
    type = "service_unavailable"
    code = "privacy_unavailable"


class Privacy(Processor):
    """Anonymizes everything sent upstream by the stages to its right; restores the answer.

    ``analyzer_factory(ner_model, language)`` builds the presidio setup (tests inject one that
    fails, to check the fail-closed path). It is called lazily, once per (model, language) per
    processor instance, in a worker thread.
    """

    slug = "privacy"
    summary = "Masks PII (presidio) before the request goes upstream; restores it in the answer."
    paper = None
    Config = PrivacyConfig

    def __init__(self, analyzer_factory: AnalyzerFactory = build_analyzer) -> None:
        self._factory = analyzer_factory
        self._built: dict[tuple[str, str], Analyzer | BaseException] = {}
        self._build_lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None

    # -- the analyzer ----------------------------------------------------------------------
    def limiter(self, threads: int) -> anyio.CapacityLimiter:
        """The processor's thread limiter (sized by the operator's ``analyzer_threads``)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(threads)
        return self._limiter

    def _build(self, ner_model: str, language: str) -> Analyzer | BaseException:
        key = (ner_model, language)
        with self._build_lock:
            if key not in self._built:
                try:
                    self._built[key] = self._factory(ner_model, language)
                except Exception as exc:  # kept: every later request is refused the same way
                    self._built[key] = exc
            return self._built[key]

    def warm(self, config: PrivacyConfig | None = None) -> Analyzer:
        """Build the analyzer now (synchronously); raises when it cannot be built."""
        config = config or PrivacyConfig()
        built = self._build(config.ner_model, config.language)
        if isinstance(built, BaseException):
            raise built
        return built

    async def analyzer(self, config: PrivacyConfig) -> Analyzer:
        """The analyzer for ``config``, built in a worker thread on first use; refuses the
        request (503) when it cannot be built or NER is required but not installed."""
        built = self._built.get((config.ner_model, config.language))
        if built is None:
            call = functools.partial(self._build, config.ner_model, config.language)
            built = await anyio.to_thread.run_sync(
                call, limiter=self.limiter(config.analyzer_threads), abandon_on_cancel=True
            )
        if isinstance(built, BaseException):
            raise PrivacyUnavailableError(
                "privacy: the PII analyzer could not be started "
                f"({type(built).__name__}: {built}); the request was not sent upstream."
            )
        if config.require_ner and built.ner == NER_OFF:
            raise PrivacyUnavailableError(
                f"privacy: NER is required but the spaCy model {config.ner_model!r} is not "
                "installed; the request was not sent upstream."
            )
        return built

    # -- the request -----------------------------------------------------------------------
    async def anonymize(
        self, ctx: RequestContext, request: ChatRequest, config: PrivacyConfig
    ) -> tuple[ChatRequest, PlaceholderMap]:
        """``request`` with every text masked, and the map to undo it."""
        setup = await self.analyzer(config)
        mapping = PlaceholderMap()
        texts = request_texts(request)
        started = time.perf_counter()
        work: Callable[[], list[str]] = functools.partial(
            mask_texts,
            setup,
            texts,
            mapping,
            score_threshold=config.score_threshold,
            ignore=frozenset(config.ignore_entities),
        )
        masked = await anyio.to_thread.run_sync(
            work, limiter=self.limiter(config.analyzer_threads), abandon_on_cancel=True
        )
        replacements = iter(masked)
        anonymized = rewrite_request(request, lambda _text: next(replacements))
        ctx.trace.add(
            TraceEntry(
                stage=ctx.stage,
                kind="anonymize",
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                detail=f"ner={setup.ner} texts={len(texts)} masked={len(mapping)}",
            )
        )
        ctx.log.info("privacy: %d value(s) masked, ner=%s", len(mapping), setup.ner)
        # DESIGN §8.11: tell the client whether names and places could be recognised.
        ctx.state.response_headers["x-optillm-privacy-ner"] = "off" if setup.ner == "off" else "on"
        return anonymized, mapping

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: CallNext
    ) -> ApproachResult:
        """Mask the request, run the rest of the plan on it, restore the answer."""
        config = effective_config(ctx)
        anonymized, mapping = await self.anonymize(ctx, request, config)
        result = await call_next(anonymized)
        if not config.restore or not len(mapping):
            return result
        return restore_result(result, mapping)


@hookimpl
def register_processors(register: Callable[[Any], None]) -> None:
    """Register ``privacy``."""
    register(Privacy())
