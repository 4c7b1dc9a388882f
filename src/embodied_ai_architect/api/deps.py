"""Annotated dependencies: settings, database, job service, artifacts and auth."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from embodied_ai_architect.api.errors import ApiError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import ArtifactStore
from embodied_ai_architect.workers.service import JobService

_bearer = HTTPBearer(auto_error=False, description="EAA_API_TOKEN")

# The lookups and checks below are ``async def``: FastAPI runs a plain ``def`` dependency in the
# threadpool, which cost every request several thread hand-offs for a dictionary read.


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _service(request: Request) -> JobService:
    service: JobService = request.app.state.service
    return service


def _artifacts(request: Request) -> ArtifactStore:
    settings: Settings = request.app.state.settings
    return ArtifactStore.from_settings(settings)


SettingsDep = Annotated[Settings, Depends(_settings)]
DbDep = Annotated[Database, Depends(_db)]
ServiceDep = Annotated[JobService, Depends(_service)]
ArtifactsDep = Annotated[ArtifactStore, Depends(_artifacts)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def token_matches(settings: Settings, token: str | None) -> bool:
    if settings.api_token is None:
        return True  # no token configured: `branes serve` only allows this on loopback
    # An empty token never matches (an empty EAA_API_TOKEN is refused by Settings as well).
    return bool(token) and hmac.compare_digest(str(token).encode(), settings.api_token.encode())


async def require_token(settings: SettingsDep, credentials: Credentials) -> None:
    token = credentials.credentials if credentials is not None else None
    if not token_matches(settings, token):
        raise ApiError(
            401,
            "unauthorized",
            "a valid bearer token is required for this endpoint",
            "send 'Authorization: Bearer <EAA_API_TOKEN>'",
        )


async def require_read(settings: SettingsDep, credentials: Credentials) -> None:
    if not settings.public_reads:
        await require_token(settings, credentials)


WriteAccess = Depends(require_token)
ReadAccess = Depends(require_read)
