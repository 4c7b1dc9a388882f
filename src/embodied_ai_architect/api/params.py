"""Path and query parameters shared by routes, bounded so no value can overflow the database."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**31 - 1

ModelId = Annotated[int, Path(ge=1, le=MAX_ID, description="Model id.")]
VersionNumber = Annotated[int, Path(ge=0, le=1_000_000, description="Version number.")]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="Job id (32 hex digits).")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Filename = Annotated[
    str,
    Query(
        min_length=1,
        max_length=255,
        pattern=r"^[^/\\\x00]+$",
        description="Display name of the file; only its extension is kept on disk.",
    ),
]
