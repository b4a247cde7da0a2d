"""Value types of the fake upstream: scripted replies, injected faults and the request log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, TypeAlias

Message: TypeAlias = MutableMapping[str, Any]
Scope: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Reply:
    """One scripted choice: what the fake model "generates" for one choice of a request.

    ``prompt_tokens`` / ``completion_tokens`` override the word-count estimate (see
    ``FakeUpstream``); ``logprobs`` is passed through as the choice's ``logprobs``;
    ``latency`` overrides the fake's per-request latency (the largest override among a
    request's choices wins). Give ``finish_reason="tool_calls"`` yourself with ``tool_calls``.
    """

    content: str = ""
    _: KW_ONLY
    finish_reason: str = "stop"
    tool_calls: list[dict[str, Any]] | None = None
    reasoning_content: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    logprobs: dict[str, Any] | None = None
    latency: float | None = None


@dataclass(frozen=True)
class Fault:
    """A failure to inject into one request (consumed whole, whatever the request's ``n``).

    ``delay`` sleeps first, then at most one of these happens:

    - ``status``: answer that HTTP status with OpenAI error JSON (``message``, ``code``) and
      the extra ``headers`` (e.g. ``{"retry-after": "7"}``);
    - ``drop``: start a 200 response and close the connection without a body (the client sees
      a protocol error; in-process, ``httpx2.RemoteProtocolError`` is raised);
    - ``malformed``: a 200 response whose body is not valid JSON;
    - ``stream_cut``: stream about half the chunks, then end without finish_reason and without
      ``data: [DONE]`` (a non-streaming request is dropped after half its body instead).

    ``stall`` (seconds) can be combined with the others' absence: a stream stalls after its
    first chunk; a non-streaming request waits that long before answering. A fault with only
    ``delay`` is just a slow request.
    """

    status: int | None = None
    _: KW_ONLY
    message: str | None = None
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    malformed: bool = False
    stream_cut: bool = False
    stall: float = 0.0

    def __post_init__(self) -> None:
        kinds = [self.status is not None, self.drop, self.malformed, self.stream_cut]
        if sum(kinds) > 1:
            raise ValueError("a Fault takes at most one of status, drop, malformed, stream_cut")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"Fault.status must be an HTTP error status, got {self.status}")
        if self.delay < 0 or self.stall < 0:
            raise ValueError("Fault.delay and Fault.stall must not be negative")

    @property
    def ends_request(self) -> bool:
        """Whether this fault replaces the normal answer (status, drop or malformed)."""
        return self.status is not None or self.drop or self.malformed


@dataclass
class RequestRecord:
    """One chat-completions request as the fake saw it.

    ``started`` / ``finished`` are ``time.monotonic()`` values; ``finished`` stays ``None``
    when the client disconnected or cancelled before the response was complete (then
    ``cancelled`` is true). ``status`` is the HTTP status sent, ``None`` if none was sent.
    """

    body: dict[str, Any]
    headers: dict[str, str]
    started: float
    path: str = "/v1/chat/completions"
    finished: float | None = None
    status: int | None = None
    cancelled: bool = False


ReplyItem: TypeAlias = str | Reply | Fault
ReplyFn: TypeAlias = Callable[[dict[str, Any]], "str | Reply | Awaitable[str | Reply]"]
ReplySource: TypeAlias = str | Reply | ReplyFn | None
