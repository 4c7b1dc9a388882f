"""One error body ``{code, message, hint, details}`` for every 4xx/5xx; no stack traces leak.

Domain errors (EAAError) become HTTP statuses here and only here.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from embodied_ai_architect.errors import (
    DependencyError,
    EAAError,
    InputError,
    JobError,
    NotFoundError,
    StoreError,
    TargetUnavailableError,
)
from embodied_ai_architect.store.artifacts import TooLargeError
from embodied_ai_architect.store.backup.errors import (
    BackupDestinationError,
    BackupInvalidError,
    BackupNotConfiguredError,
    BackupWriteError,
    DatabaseBusyError,
    DatabaseInUseError,
)

log = logging.getLogger(__name__)


class ApiError(EAAError):
    """An HTTP-level refusal (auth, payload size) in the same shape as domain errors."""

    def __init__(self, status_code: int, code: str, message: str, hint: str = ""):
        super().__init__(message, hint)
        self.status_code = status_code
        self.code = code


def status_for(exc: EAAError) -> int:
    if isinstance(exc, ApiError):
        return exc.status_code
    if isinstance(exc, TooLargeError):
        return 413
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InputError | TargetUnavailableError):
        return 422
    if isinstance(exc, JobError | DatabaseInUseError):
        return 409
    if isinstance(exc, BackupDestinationError):
        return 502  # the storage behind us failed, not this server
    if isinstance(
        exc, DependencyError | BackupNotConfiguredError | BackupWriteError | DatabaseBusyError
    ):
        return 503
    return 500


def _body(
    code: str,
    message: str,
    hint: str,
    details: dict[str, Any] | None = None,
    field: str | None = None,
) -> dict[str, Any]:
    body = {"code": code, "message": message, "hint": hint, "details": details or {}}
    if field is not None:
        # The request field the error is about, by its REST name (the hint names it too).
        body["field"] = field
    return body


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


# Store errors whose messages name no SQL or server paths: shown as they are.
_SAFE_STORE_ERRORS = (
    BackupNotConfiguredError,
    BackupWriteError,
    DatabaseBusyError,
    BackupDestinationError,
    BackupInvalidError,
    DatabaseInUseError,
)


async def _eaa_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EAAError)
    status = status_for(exc)
    if status >= 500 and isinstance(exc, StoreError) and not isinstance(exc, _SAFE_STORE_ERRORS):
        # Database messages can carry SQL and paths: log them, answer generically.
        log.error("store error on %s %s: %s", request.method, request.url.path, exc)
        body = _body(exc.code, "the database could not complete the request", exc.hint)
    else:
        body = _body(exc.code, exc.message, exc.hint, _jsonable(exc.details), exc.field)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, DatabaseBusyError):
        headers = {"Retry-After": "1"}
    return JSONResponse(body, status_code=status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"])
    return JSONResponse(
        _body(
            "validation_error",
            f"invalid request: {where}: {first['msg']}"
            if where
            else f"invalid request: {first['msg']}",
            "fix the listed fields; the OpenAPI schema at /openapi.json describes every field",
            {"errors": errors},
        ),
        status_code=422,
    )


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
}
# FastAPI's answer to a body it cannot decode (binary bytes sent as JSON).
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        # A documented 422 like every other malformed request, not an undocumented 400.
        return JSONResponse(
            _body(
                "validation_error",
                "invalid request: the body is not valid UTF-8 JSON",
                "send a JSON object with Content-Type: application/json",
            ),
            status_code=422,
        )
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    hint = "see /docs for the available endpoints" if exc.status_code in (404, 405) else ""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first matching route only; FastAPI registers one
        # route per method, so collect them from every route of this path.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return JSONResponse(
        _body(code, str(exc.detail), hint), status_code=exc.status_code, headers=headers or None
    )


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()

    def visit(routes: list[Any]) -> None:
        for route in routes:
            nested = getattr(route, "original_router", None)  # FastAPI's included routers
            if nested is not None:
                visit(list(nested.routes))
                continue
            regex, route_methods = (
                getattr(route, "path_regex", None),
                getattr(route, "methods", None),
            )
            if regex is not None and route_methods and regex.match(request.url.path):
                methods.update(route_methods)

    visit(list(request.app.router.routes))
    return sorted(methods)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        _body(
            "internal_error", "internal server error", "this is a bug; the server log has details"
        ),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(EAAError, _eaa_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries so every documented error status uses ErrorBody."""
    from embodied_ai_architect.api.schemas import ErrorBody

    return {code: {"model": ErrorBody} for code in codes}
