"""Rows → public models (the only place that knows both shapes)."""

from __future__ import annotations

import functools
import operator
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, TypeVar

from fastapi.responses import Response
from pydantic import BaseModel

from embodied_ai_architect.api.schemas import (
    ErrorBody,
    JobPublic,
    JobResultPublic,
    ListPublic,
    ModelPublic,
)
from embodied_ai_architect.errors import JobError
from embodied_ai_architect.schemas.job_requests import AnyJobRequest, parse_job_request
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.store.models import JobRow, ModelRow
from embodied_ai_architect.store.repo.jobs import JobSummary

JobRequestModel = AnyJobRequest
PublicT = TypeVar("PublicT", bound=BaseModel)


def page_of(
    public: type[PublicT], rows: Iterable[Any], count: int | None = None
) -> ListPublic[PublicT]:
    """``{data, count}`` of rows validated into ``public`` (count: the total, default the rows)."""
    data = [public.model_validate(row) for row in rows]
    return ListPublic[public](data=data, count=len(data) if count is None else count)  # type: ignore[valid-type]


@functools.cache
def _copied_fields(
    public: type[BaseModel], computed: frozenset[str]
) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    names = tuple(name for name in public.model_fields if name not in computed)
    return names, operator.attrgetter(*names)  # type: ignore[return-value]


def _from_row(public: type[PublicT], row: Any, **computed: Any) -> PublicT:
    """``public`` with each field not in ``computed`` read from the row's attribute of that
    name: the public schema is the one list of what a row shows. (The names and their getter
    are worked out once per schema: job lists call this for every row.)"""
    names, read = _copied_fields(public, frozenset(computed))
    return public(**dict(zip(names, read(row), strict=True)), **computed)


def model_public(row: ModelRow) -> ModelPublic:
    return _from_row(ModelPublic, row, analyzed=row.profile is not None)


# A job's request never changes once stored, so each is validated once per process, not on
# every list or status read (it was the largest cost of GET /api/v1/jobs). Bounded LRU.
_REQUESTS: OrderedDict[str, JobRequestModel] = OrderedDict()
_REQUESTS_MAX = 4096
_REQUESTS_LOCK = threading.Lock()


def _stored_request(row: JobSummary) -> JobRequestModel:
    with _REQUESTS_LOCK:
        cached = _REQUESTS.get(row.id)
        if cached is not None:
            _REQUESTS.move_to_end(row.id)
            return cached
    parsed = parse_job_request({**row.request, "kind": row.kind.value})
    with _REQUESTS_LOCK:
        _REQUESTS[row.id] = parsed
        while len(_REQUESTS) > _REQUESTS_MAX:
            _REQUESTS.popitem(last=False)
    return parsed


def job_public(row: JobSummary) -> JobPublic:
    end = row.finished_at or (datetime.now(UTC) if row.started_at else None)
    duration = (end - row.started_at).total_seconds() if row.started_at and end else None
    return _from_row(
        JobPublic,
        row,
        request=_stored_request(row),
        error=ErrorBody.model_validate(hide_server_paths(row.error)) if row.error else None,
        duration_s=max(0.0, duration) if duration is not None else None,
    )


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    """An already-typed body, serialized once. Returning the model instead makes FastAPI dump
    it to a dict and validate that against the response model again (the slowest part of a
    list of 50 jobs); the route's ``response_model`` still documents the shape."""
    return Response(body.model_dump_json(), status_code, media_type="application/json")


def job_result(row: JobRow) -> JobResultPublic:
    if row.status is not JobStatus.SUCCEEDED or row.result is None:
        raise JobError(
            f"job {row.id} has no result (status: {row.status.value})",
            hint="wait until it succeeded; failed jobs carry an error instead",
            details={"status": row.status.value},
        )
    field = {
        JobKind.ANALYZE: "analysis",
        JobKind.OPTIMIZE: "optimize",
        JobKind.DEPLOY: "deployment",
        JobKind.ROLLOUT: "rollout",
    }
    return JobResultPublic.model_validate(
        {"job_id": row.id, "kind": row.kind, field[row.kind]: hide_server_paths(row.result)}
    )


# An absolute path inside any string (not part of a URL, a ratio or a relative path).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(/[^\s'\"<>,;()\[\]{}]+)")


def _relative(match: re.Match[str]) -> str:
    path = match.group(1)
    runs = path.find("/runs/")
    return path[runs + 1 :] if runs >= 0 else PurePosixPath(path).name


def hide_server_paths(value: Any) -> Any:
    """Results and job errors are public (reads need no token by default): absolute server
    paths become workspace-relative (``runs/<job>/...``) or bare file names; files are fetched
    through the API."""
    if isinstance(value, str):
        return _ABSOLUTE_PATH.sub(_relative, value)
    if isinstance(value, list):
        return [hide_server_paths(v) for v in value]
    if isinstance(value, dict):
        return {k: hide_server_paths(v) for k, v in value.items()}
    return value
