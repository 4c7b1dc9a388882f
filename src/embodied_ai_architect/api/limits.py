"""Limits before work: nothing reads, parses or stores a request body for a client that is not
allowed to send it, and no client can hold the server's sockets or memory indefinitely.

Two layers:

* :class:`RequestGuard`, a pure ASGI middleware (it never buffers more than it allows):
  checks the bearer token of mutating ``/api/`` requests from the headers alone, before a byte
  of the body is read (401 + ``Connection: close``); refuses JSON bodies over
  ``EAA_MAX_JSON_BYTES`` with 413 (by Content-Length at once, or while counting a chunked
  body); cuts a body whose next chunk takes longer than ``EAA_BODY_TIMEOUT_S`` (408).
* :func:`guarded_protocol`, a uvicorn HTTP protocol class that closes connections whose
  headers do not arrive within ``EAA_HEADER_TIMEOUT_S`` (408) and refuses connections over
  ``EAA_MAX_CONNECTIONS_PER_CLIENT`` (429) or ``EAA_MAX_CONNECTIONS`` (503), both with
  ``Retry-After``. ``branes serve`` installs it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from fastapi import HTTPException  # FastAPI re-raises its own from body parsing (not 400)

from embodied_ai_architect.settings import Settings

Scope = dict[str, Any]
Message = dict[str, Any]

_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Raw uploads are streamed to disk under EAA_MAX_MODEL_BYTES / EAA_MAX_DATA_BYTES, not the
# JSON cap.
_STREAMED_UPLOADS = {("POST", "/api/v1/models"), ("POST", "/api/v1/datasets")}


def _error_body(code: str, message: str, hint: str) -> bytes:
    return json.dumps({"code": code, "message": message, "hint": hint, "details": {}}).encode()


class _Progress:
    def __init__(self) -> None:
        self.received = 0
        self.body_done = False
        self.cut: int | None = None  # 408 or 413 once the body was cut off


class RequestGuard:
    """ASGI middleware: auth from headers, JSON size cap and body idle timeout."""

    def __init__(self, app: Any, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if method in _MUTATING and path.startswith("/api/") and not self._authorized(headers):
            await _reply(
                send,
                401,
                _error_body(
                    "unauthorized",
                    "a valid bearer token is required for this endpoint",
                    "send 'Authorization: Bearer <EAA_API_TOKEN>'",
                ),
                extra=[(b"www-authenticate", b"Bearer")],
            )
            return
        limit = None if (method, path) in _STREAMED_UPLOADS else self.settings.max_json_bytes
        declared = headers.get("content-length", "")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, self._too_large(limit))
            return
        await self._run(scope, receive, send, limit)

    def _authorized(self, headers: dict[str, str]) -> bool:
        from embodied_ai_architect.api.deps import token_matches

        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token_matches(
            self.settings, token.strip() if scheme.lower() == "bearer" and token else None
        )

    def _too_large(self, limit: int) -> bytes:
        return _error_body(
            "payload_too_large",
            f"request body is larger than the limit of {limit} bytes",
            "send a smaller JSON body (models are uploaded to POST /api/v1/models); the limit is "
            "EAA_MAX_JSON_BYTES",
        )

    async def _run(self, scope: Scope, receive: Any, send: Any, limit: int | None) -> None:
        timeout = self.settings.body_timeout_s
        state = _Progress()

        async def guarded_receive() -> Message:
            if state.body_done:
                return dict(await receive())  # e.g. waiting for http.disconnect: no timeout
            try:
                message = dict(await asyncio.wait_for(receive(), timeout))
            except TimeoutError:
                state.cut = 408
                # An HTTPException passes FastAPI's body parsing untouched; the app's handler
                # answers it and guarded_send adds "Connection: close".
                raise HTTPException(
                    408,
                    f"the request body stalled for more than {timeout:g} s; the limit is "
                    "EAA_BODY_TIMEOUT_S",
                ) from None
            if message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                if limit is not None and state.received > limit:
                    state.cut = 413
                    raise HTTPException(
                        413,
                        f"request body is larger than the limit of {limit} bytes; the limit "
                        "is EAA_MAX_JSON_BYTES",
                    )
                if not message.get("more_body", False):
                    state.body_done = True
            else:
                state.body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start" and state.cut is not None:
                # The rest of the body is not wanted: hang up instead of draining it.
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"connection", b"close")],
                }
            await send(message)

        await self.app(scope, guarded_receive, guarded_send)


async def _reply(
    send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The body was not (fully) read: close, so uvicorn does not drain it for a next request.
        (b"connection", b"close"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _raw_response(status: int, reason: str, body: bytes, retry_after: int | None) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry_after is not None:
        lines.append(f"retry-after: {retry_after}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def guarded_protocol(settings: Settings) -> type:
    """A uvicorn HTTP protocol class with a header timeout and connection caps.

    Example:
        >>> uvicorn.run(app, http=guarded_protocol(settings))  # doctest: +SKIP
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    per_client: Counter[str] = Counter()
    header_timeout = settings.header_timeout_s
    max_per_client = settings.max_connections_per_client
    max_total = settings.max_connections

    class GuardedProtocol(HttpToolsProtocol):  # type: ignore[misc]
        _host: str | None = None
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._host = self.client[0] if self.client else "unknown"
            per_client[self._host] += 1
            if len(self.connections) > max_total:
                self._refuse(
                    503,
                    "Service Unavailable",
                    "server_busy",
                    "the server is at its connection limit",
                    "retry after the Retry-After delay",
                )
            elif per_client[self._host] > max_per_client:
                self._refuse(
                    429,
                    "Too Many Requests",
                    "too_many_connections",
                    f"this client holds more than {max_per_client} connections",
                    "reuse connections or wait; the limit is EAA_MAX_CONNECTIONS_PER_CLIENT",
                )
            else:
                self._arm_header_timer()

        def _refuse(self, status: int, reason: str, code: str, message: str, hint: str) -> None:
            self.transport.write(
                _raw_response(status, reason, _error_body(code, message, hint), retry_after=1)
            )
            self.transport.close()

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                body = _error_body(
                    "request_timeout",
                    f"request headers did not arrive within {header_timeout:g} s",
                    "send complete requests; the limit is EAA_HEADER_TIMEOUT_S",
                )
                self.transport.write(_raw_response(408, "Request Timeout", body, None))
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self.cycle is None or self.cycle.response_complete:
                self._arm_header_timer()  # a new request starts: its headers are on the clock
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

        def handle_websocket_upgrade(self) -> None:
            self._disarm_header_timer()
            self._forget()
            super().handle_websocket_upgrade()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            self._forget()
            super().connection_lost(exc)

        def _forget(self) -> None:
            if self._host is not None:
                per_client[self._host] -= 1
                if per_client[self._host] <= 0:
                    del per_client[self._host]
                self._host = None

    return GuardedProtocol
