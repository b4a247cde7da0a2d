"""Pure-ASGI middleware: request id, proxy-key authentication and the concurrency limit."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import AuthenticationError, OptillmError

REQUEST_ID_HEADER = b"x-request-id"
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
OPEN_PATHS = frozenset({"/health", "/health/ready"})


def _digest(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(raw).digest()


def key_matches(presented: bytes, expected_digest: bytes) -> bool:
    """Constant-time comparison of a presented key with the expected key's digest."""
    return hmac.compare_digest(_digest(presented), expected_digest)


async def send_error(send: Send, exc: OptillmError, request_id: bytes) -> None:
    """Send an OpenAI error response directly over ASGI."""
    body = json.dumps(exc.to_dict()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID_HEADER, request_id),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ServerMiddleware:
    """Stamps ``x-request-id``, checks ``Authorization`` and bounds concurrent requests."""

    def __init__(
        self, app: ASGIApp, *, api_key: str = "", max_concurrent: int = 0, server: Any = None
    ) -> None:
        self.app = app
        self.server = server
        self.expected = _digest(api_key) if api_key else None
        self.max_concurrent = max_concurrent
        self.active = 0

    def _request_id(self, scope: Scope) -> bytes:
        for name, value in scope.get("headers", ()):
            if name == REQUEST_ID_HEADER:
                try:
                    text = value.decode("ascii")
                except UnicodeDecodeError:
                    break
                if SAFE_REQUEST_ID.match(text):
                    return bytes(value)
                break
        return f"req-{uuid.uuid4().hex[:16]}".encode()

    def _authorized(self, scope: Scope) -> bool:
        if self.expected is None or scope.get("path") in OPEN_PATHS:
            return True
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and key_matches(token.strip(), self.expected)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        if not self._authorized(scope):
            await send_error(
                send,
                AuthenticationError(
                    "Invalid or missing API key: send 'Authorization: Bearer <key>'."
                ),
                request_id,
            )
            return
        limited = self.max_concurrent > 0 and scope.get("path") not in OPEN_PATHS
        if self.server is not None and self.server.draining and scope.get("path") not in OPEN_PATHS:
            await send_error(
                send,
                OptillmError(
                    "The server is shutting down; retry on another replica.",
                    status=503,
                    code="draining",
                    headers={"retry-after": "1"},
                ),
                request_id,
            )
            return
        if limited and self.active >= self.max_concurrent:
            await send_error(
                send,
                OptillmError(
                    "The server is at its concurrent request limit; retry shortly.",
                    status=503,
                    code="overloaded",
                    headers={"retry-after": "1"},
                ),
                request_id,
            )
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id))
                message = {**message, "headers": headers}
            await send(message)

        if limited:
            self.active += 1
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if limited:
                self.active -= 1
