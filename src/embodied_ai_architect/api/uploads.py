"""Streamed uploads shared by the model and data routes: the raw request body goes to disk
from a worker thread (never held in memory, never blocking the event loop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.types import DecoratedCallable
from pydantic import BaseModel
from sqlalchemy.orm import Session

from embodied_ai_architect.api.deps import WriteAccess
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.errors import InputError
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import ArtifactRef, ArtifactStore, TooLargeError
from embodied_ai_architect.store.repo._common import UploadedFileFields

_WRITE_BATCH = 1 << 20

# The raw body of an upload route (``openapi_extra``): FastAPI cannot infer it from the handler.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def refuse_declared_size(request: Request, *, limit: int, setting: str) -> None:
    """Refuse before reading a byte: the client learns at once, the disk stays untouched."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(
            f"upload is larger than the limit of {limit} bytes",
            hint=f"raise {setting} if files this big are expected",
        )


class CountUsing(Protocol):
    """A repository's ``count_using``: how many rows point at one artifact path."""

    def __call__(self, session: Session, *, path: str) -> int: ...


def remove_if_unreferenced(
    db: Database, artifacts: ArtifactStore, relative: str, users: CountUsing
) -> None:
    """Identical uploads share one content-addressed file: delete it (locally and from the
    artifact bucket) only when ``users`` counts no row pointing at it."""
    with db.session() as session:
        used = users(session, path=relative)
    if not used:
        artifacts.remove(relative)


@contextmanager
def removed_if_refused(
    db: Database,
    artifacts: ArtifactStore,
    relative: str,
    users: CountUsing,
    refused: type[Exception] = InputError,
) -> Iterator[None]:
    """Around the check of a stored upload: a file the check refuses (raising ``refused``) is
    not kept, unless ``users`` counts another row sharing it; the error goes on to the client."""
    try:
        yield
    except refused:
        remove_if_unreferenced(db, artifacts, relative, users)
        raise


def file_fields(
    ref: ArtifactRef, *, name: str, format: str, path: str | None = None
) -> UploadedFileFields:
    """The columns every uploaded file's row records, from the stored body ``ref`` (``path``:
    where the file ended up when it was renamed after storing, default ``ref.path``)."""
    return UploadedFileFields(
        name=name,
        format=format,
        sha256=ref.sha256,
        size_bytes=ref.size_bytes,
        path=ref.path if path is None else path,
    )


def upload_route(
    router: APIRouter, response_model: type[BaseModel]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``POST ""`` of an upload resource: token, raw body, 201, and the errors an upload has."""
    return router.post(
        "",
        response_model=response_model,
        status_code=201,
        dependencies=[WriteAccess],
        openapi_extra=UPLOAD_BODY,
        responses=error_responses(401, 413, 422, 500),
    )


async def store_body(
    request: Request,
    artifacts: ArtifactStore,
    *,
    scope: str,
    suffix: str,
    limit: int,
    setting: str,
) -> ArtifactRef:
    """Stream the body to disk from a worker thread: hashing, writes and fsync never block the
    event loop (other requests go on during a multi-GB upload). The thread pulls each chunk
    from the loop; a too-large, stalled or aborted body removes the partial file. A body
    declared larger than ``limit`` is refused before a byte is read (``setting`` raises it)."""
    refuse_declared_size(request, limit=limit, setting=setting)
    stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:
        buffer = bytearray()
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            buffer += chunk
            if len(buffer) >= _WRITE_BATCH:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)

    return await anyio.to_thread.run_sync(
        lambda: artifacts.put_chunks(chunks(), scope=scope, suffix=suffix, max_bytes=limit)
    )
