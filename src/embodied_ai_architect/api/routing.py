"""Routers whose routes share one access rule, declared once for the router.

A read-only resource takes ``read_router`` (token only when ``EAA_PUBLIC_READS`` is off); the
administration takes ``token_router`` (always the token, reads included). Both document the 401
on every route, so a new route cannot forget either. On routers that also write, each read is a
``read_route`` and each write a ``write_route``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.types import DecoratedCallable

from embodied_ai_architect.api.deps import ReadAccess, WriteAccess
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.schemas import ListPublic


def read_router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(
        prefix=prefix, tags=[tag], dependencies=[ReadAccess], responses=error_responses(401)
    )


def token_router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(
        prefix=prefix, tags=[tag], dependencies=[WriteAccess], responses=error_responses(401)
    )


def list_route(
    router: APIRouter, item: type[Any]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``GET ""`` of a ``read_router`` resource: a ``ListPublic`` page of ``item``, refused with
    422 when a query parameter is out of bounds (the router documents the 401)."""
    page = ListPublic[item]  # type: ignore[valid-type]  # a runtime parametrization
    return router.get("", response_model=page, responses=error_responses(422))


def read_route(
    router: APIRouter, path: str, response_model: Any, *errors: int
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``GET path`` on a router that also writes: a read, documenting 401 and ``errors``."""
    return router.get(
        path,
        response_model=response_model,
        dependencies=[ReadAccess],
        responses=error_responses(401, *errors),
    )


def write_route(
    router: APIRouter,
    method: Literal["post", "delete"],
    path: str,
    response_model: Any,
    *errors: int,
    status_code: int = 200,
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``POST`` / ``DELETE path``: a write, always behind the token, documenting 401 and
    ``errors``."""
    add = router.post if method == "post" else router.delete
    return add(
        path,
        response_model=response_model,
        status_code=status_code,
        dependencies=[WriteAccess],
        responses=error_responses(401, *errors),
    )
