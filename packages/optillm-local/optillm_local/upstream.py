"""The ``local`` upstream: the OpenAI chat-completions protocol served by in-process models.

Requests are validated on the event loop; loading and generation run in worker threads behind an
``anyio.CapacityLimiter`` (``--local-concurrency``), so the loop keeps serving ``/health`` and
other requests meanwhile. Streaming generation runs in its own thread and hands text deltas to
the loop as they are produced. A client that goes away stops its generation at the next token.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from optillm_core import Capabilities, InvalidRequestError
from optillm_core.settings import Settings

from .cache import ModelCache
from .config import LocalConfig
from .decoders.base import DecodingCancelled
from .loading import LoadedModel
from .request import LocalRequest, parse_request
from .response import ChunkMaker, completion

logger = logging.getLogger(__name__)


class LocalUpstream:
    """In-process Hugging Face models as an OpenAI-compatible upstream."""

    name = "local"
    capabilities = Capabilities(
        n=True, logprobs=True, streaming=True, tools=False, stream_usage=True
    )

    def __init__(
        self,
        config: LocalConfig,
        decoders: Mapping[str, Any] | None = None,
        *,
        default_model: str = "",
        cache: ModelCache | None = None,
    ) -> None:
        self.config = config
        self.decoders = dict(decoders or {})
        self.default_model = default_model
        self.cache = cache or ModelCache(config)
        self._limiter: anyio.CapacityLimiter | None = None
        self._standard: Any = None

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The limiter on concurrent model jobs (created in the running event loop)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.config.concurrency)
        return self._limiter

    def _decoder(self, request: LocalRequest) -> Any:
        if request.decoder is not None:
            return request.decoder
        if self._standard is None:
            from .generation import StandardDecoder

            self._standard = StandardDecoder()
        return self._standard

    def _check_allowed(self, request: LocalRequest) -> None:
        allowed = self.config.allowed()
        wanted = [request.ref.base, *request.ref.adapters]
        if not allowed:
            return
        for name in wanted:
            if name not in allowed and name != self.default_model:
                raise InvalidRequestError(
                    f"Model {name!r} is not served here.",
                    param="model",
                    code="model_not_allowed",
                    status=403,
                )

    def parse(self, body: Mapping[str, Any]) -> LocalRequest:
        """Validate a body (400 on bad input, unknown decoder included)."""
        request = parse_request(body, self.decoders, self.config.max_tokens)
        self._check_allowed(request)
        return request

    async def load(self, request: LocalRequest) -> LoadedModel:
        """The request's model, loaded in a worker thread on first use."""
        return await anyio.to_thread.run_sync(self.cache.get, request.ref, limiter=self.limiter)

    # -- the Upstream protocol ----------------------------------------------------------------
    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """One completion: all ``n`` choices from one batched generation."""
        request = self.parse(body)
        loaded = await self.load(request)
        decoder = self._decoder(request)
        cancel = threading.Event()
        from .generation import run_job

        try:
            outcome = await anyio.to_thread.run_sync(
                lambda: run_job(loaded, request, decoder, cancel=cancel),
                limiter=self.limiter,
                abandon_on_cancel=True,
            )
        except BaseException:
            cancel.set()
            raise
        return completion(
            request.model,
            outcome.result,
            outcome.prompt_tokens,
            reasoning=outcome.reasoning_tokens,
            with_stats=request.decoding_stats,
        )

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Chunks as tokens are generated; then finish reasons and a usage chunk."""
        request = self.parse(body)
        loaded = await self.load(request)
        decoder = self._decoder(request)
        maker = ChunkMaker(request.model)
        job = _StreamJob(loaded, request, decoder)
        await job.start(self.limiter)
        try:
            async for kind, payload in job:
                if kind == "deltas":
                    chunk = maker.content(payload)
                    if chunk is not None:
                        yield chunk
                    continue
                result = payload.result
                for chunk in maker.finish(
                    result, streamed=decoder.streams, with_stats=request.decoding_stats
                ):
                    yield chunk
                yield maker.usage(
                    payload.prompt_tokens, result.completion_tokens, payload.reasoning_tokens
                )
        finally:
            job.cancel.set()

    async def list_models(self) -> list[dict[str, Any]]:
        """The configured model and every loaded one."""
        names = [self.default_model] if self.default_model else []
        names += [k for k in self.cache.keys() if k not in names]  # noqa: SIM118
        return [{"id": n, "object": "model", "created": 0, "owned_by": "local"} for n in names]

    async def aclose(self) -> None:
        """Drop the loaded models."""
        self.cache.clear()

    def with_api_key(self, api_key: str) -> LocalUpstream:
        """Keys mean nothing to an in-process engine: the same upstream."""
        return self


class _StreamJob:
    """A generation in its own thread, feeding an in-memory stream of events to the loop."""

    def __init__(self, loaded: LoadedModel, request: LocalRequest, decoder: Any) -> None:
        self.loaded = loaded
        self.request = request
        self.decoder = decoder
        self.cancel = threading.Event()
        self.send, self.receive = anyio.create_memory_object_stream[tuple[str, Any]](math.inf)

    async def start(self, limiter: anyio.CapacityLimiter) -> None:
        """Wait for a limiter slot, then start the thread."""
        borrower = object()
        await limiter.acquire_on_behalf_of(borrower)
        token = anyio.lowlevel.current_token()

        def post(item: tuple[str, Any]) -> None:
            try:
                anyio.from_thread.run_sync(self.send.send_nowait, item, token=token)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.cancel.set()
            except RuntimeError:  # the event loop is gone
                self.cancel.set()

        def finish() -> None:
            self.send.close()
            limiter.release_on_behalf_of(borrower)

        def target() -> None:
            from .generation import run_job

            try:
                outcome = run_job(
                    self.loaded,
                    self.request,
                    self.decoder,
                    cancel=self.cancel,
                    emit=lambda deltas: post(("deltas", deltas)),
                )
                post(("done", outcome))
            except DecodingCancelled:
                pass
            except BaseException as exc:  # handed to the consumer, raised there
                post(("error", exc))
            finally:
                with contextlib.suppress(RuntimeError):
                    anyio.from_thread.run_sync(finish, token=token)

        threading.Thread(target=target, name="optillm-local-stream", daemon=True).start()

    def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[tuple[str, Any]]:
        async with self.receive:
            async for kind, payload in self.receive:
                if kind == "error":
                    raise payload
                yield kind, payload


def local_upstream(settings: Settings, registry: Any = None) -> LocalUpstream:
    """The ``local`` upstream factory: options from ``settings.options_for("local")``,
    decoders from the registry (every ``register_decoders`` contribution)."""
    from .config import load_config

    config = load_config(settings.options_for("local"))
    decoders = dict(getattr(registry, "decoders", {}) or {})
    return LocalUpstream(config, decoders, default_model=settings.model)
