"""Routers whose routes share one access rule, declared once for the router.

A read-only resource takes ``read_router`` (token only when ``EAA_PUBLIC_READS`` is off); the
administration takes ``token_router`` (always the token, reads included). Both document the 401
on every route, so a new route cannot forget either.
"""

from __future__ import annotations

from fastapi import APIRouter

from embodied_ai_architect.api.deps import ReadAccess, WriteAccess
from embodied_ai_architect.api.errors import error_responses


def read_router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(
        prefix=prefix, tags=[tag], dependencies=[ReadAccess], responses=error_responses(401)
    )


def token_router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(
        prefix=prefix, tags=[tag], dependencies=[WriteAccess], responses=error_responses(401)
    )
