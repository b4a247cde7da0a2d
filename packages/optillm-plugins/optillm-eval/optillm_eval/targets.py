"""Where requests go: the optillm engine in this process, or a running optillm proxy.

Both select the approach with the ``optillm_approach`` body field and report the upstream
usage of the whole request (every internal call of the approach), so the two are comparable.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import openai

from optillm_core import ChatRequest, Engine, OptillmError

from .errors import EvalError

logger = logging.getLogger(__name__)
APPROACHES_PATH = "/optillm/approaches"
CALLS_HEADER = "x-optillm-upstream-calls"


@dataclass(frozen=True)
class TargetReply:
    """A finished request: the answer and what it cost upstream."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    upstream_calls: int | None


class RequestFailed(Exception):
    """A request failed; ``usage`` holds what it had spent before failing, when known."""

    def __init__(self, message: str, usage: TargetReply | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class Target(Protocol):
    """Something that answers one chat request with a given approach."""

    model: str

    async def ask(
        self, approach: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> TargetReply:
        """Run one request. Raises :class:`RequestFailed` when it fails."""
        ...

    async def check_approaches(self, approaches: Sequence[str]) -> None:
        """Raise :class:`EvalError` naming every approach (plan) that cannot run here."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _slugs(plan: str) -> list[str]:
    return [s.strip() for part in plan.split("|") for s in part.split("&") if s.strip()]


class EngineTarget:
    """Runs requests through an :class:`optillm_core.Engine` in this process."""

    def __init__(self, engine: Engine, model: str, *, owns_upstream: bool = True) -> None:
        self.engine = engine
        self.model = model
        self.owns_upstream = owns_upstream

    def _request(
        self, approach: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> ChatRequest:
        body = {**params, "model": self.model, "messages": messages, "optillm_approach": approach}
        return ChatRequest.model_validate(body)

    async def check_approaches(self, approaches: Sequence[str]) -> None:
        """Resolve each plan as a request would (unknown slugs, disallowed approaches)."""
        probe = [{"role": "user", "content": "?"}]
        problems = []
        for approach in approaches:
            try:
                self.engine.prepare(self._request(approach, probe, {}))
            except OptillmError as exc:
                problems.append(f"{approach}: {exc.message}")
        if problems:
            raise EvalError("Cannot run " + "; ".join(problems))

    async def ask(
        self, approach: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> TargetReply:
        """Run the plan in-process and collect its answer and metered usage."""
        state = self.engine.new_state()
        usage = state.usage

        def spent() -> TargetReply:
            return TargetReply("", None, usage.prompt_tokens, usage.completion_tokens, usage.calls)

        try:
            outcome = await self.engine.run(self._request(approach, messages, params), state=state)
            result = await outcome.result.collect()
        except OptillmError as exc:
            raise RequestFailed(f"{type(exc).__name__}: {exc.message}", spent()) from exc
        except Exception as exc:  # a bug in an approach: record it, keep evaluating
            logger.debug("approach %s raised", approach, exc_info=True)
            raise RequestFailed(f"{type(exc).__name__}: {exc}", spent()) from exc
        if not result.choices:
            raise RequestFailed("the approach returned no choices", spent())
        choice = result.choices[0]
        return TargetReply(
            choice.text,
            choice.finish_reason,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.calls,
        )

    async def aclose(self) -> None:
        """Close the engine's upstream connections (when this target owns them)."""
        if self.owns_upstream:
            await self.engine.upstream.aclose()


class ProxyTarget:
    """Sends requests to a running optillm proxy (or any OpenAI-compatible server) over HTTP.

    Request parameters travel as extra body fields, so approach options such as
    ``{"optillm": {"moa": {...}}}`` reach the proxy unchanged.
    """

    def __init__(self, client: openai.AsyncOpenAI, model: str) -> None:
        self.client = client
        self.model = model

    async def installed(self) -> set[str] | None:
        """The proxy's installed slugs, or ``None`` when the server is not an optillm proxy."""
        try:
            listing: Any = await self.client.get(APPROACHES_PATH, cast_to=object)
        except openai.APIStatusError:
            return None
        if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
            return None
        return {str(row.get("slug")) for row in listing["data"] if isinstance(row, dict)}

    async def check_approaches(self, approaches: Sequence[str]) -> None:
        """Check the slugs against the proxy's ``/v1/optillm/approaches``."""
        try:
            installed = await self.installed()
        except openai.APIConnectionError as exc:
            raise EvalError(f"Cannot reach {self.client.base_url}: {exc}") from exc
        if installed is None:
            if any(approach != "none" for approach in approaches):
                raise EvalError(
                    f"{self.client.base_url} is not an optillm proxy (no {APPROACHES_PATH}); "
                    "approaches other than 'none' would silently not run there. Use --via "
                    "engine to run them in this process on top of that server."
                )
            return
        missing = sorted({s for a in approaches for s in _slugs(a)} - installed)
        if missing:
            raise EvalError(
                f"Not installed on the proxy: {', '.join(missing)}; it has "
                f"{', '.join(sorted(installed))}."
            )

    async def ask(
        self, approach: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> TargetReply:
        """One chat completion with ``optillm_approach`` set; usage from the response."""
        extra = {**params, "optillm_approach": approach}
        try:
            raw = await self.client.chat.completions.with_raw_response.create(
                model=self.model, messages=cast(Any, messages), extra_body=extra
            )
            completion = raw.parse()
        except openai.APIError as exc:
            raise RequestFailed(f"{type(exc).__name__}: {exc}") from exc
        header = raw.headers.get(CALLS_HEADER)
        calls = int(header) if header and header.isdigit() else (1 if approach == "none" else None)
        usage = completion.usage
        if not completion.choices:
            raise RequestFailed("the server returned no choices")
        choice = completion.choices[0]
        return TargetReply(
            choice.message.content or "",
            choice.finish_reason,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            calls,
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.close()
