"""Response models: every endpoint returns one of these (typed OpenAPI, no untyped dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from embodied_ai_architect.agents.deployment.targets.base import TargetStatus
from embodied_ai_architect.schemas.deployment import DeploymentResult
from embodied_ai_architect.schemas.job_requests import JobRequest
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.schemas.profile import ModelProfile
from embodied_ai_architect.schemas.progress import EventKind
from embodied_ai_architect.schemas.results import OptimizeReport
from embodied_ai_architect.schemas.runs import RunView
from embodied_ai_architect.sim.render import RenderedEpisode

T = TypeVar("T")
Json = dict[str, JsonValue]


class ErrorBody(BaseModel):
    """The one body of every 4xx/5xx response."""

    code: str = Field(description="Stable machine-readable error code, e.g. not_found.")
    message: str = Field(description="What went wrong.")
    hint: str = Field(description="What to do about it.")
    field: str | None = Field(
        default=None, description="The request field the error is about, when it is one."
    )
    details: Json = Field(default_factory=dict, description="Structured context.")


class ListPublic(BaseModel, Generic[T]):
    data: list[T]
    count: int = Field(ge=0, description="Total matching items (not just this page).")


class _Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ModelPublic(_Orm):
    id: int
    name: str = Field(description="The uploaded file's name (display only, never a path).")
    format: str = Field(description="Format detected from the file's bytes.")
    sha256: str
    size_bytes: int = Field(ge=0)
    created_at: datetime
    analyzed: bool = Field(description="Whether an analyze job stored a profile.")


class ModelDetail(ModelPublic):
    profile: ModelProfile | None = None
    latest_version: int | None = Field(default=None, ge=0)


class JobPublic(BaseModel):
    id: str
    kind: JobKind
    status: JobStatus
    progress: float = Field(ge=0, le=100)
    stage: str | None
    model_id: int | None
    request: JobRequest
    error: ErrorBody | None
    worker_pid: int | None
    executor: str | None = Field(default=None, description="'local' or 'ray'.")
    worker_node: str | None = Field(default=None, description="Host or Ray node it ran on.")
    worker_id: str | None = Field(default=None, description="Process or Ray worker it ran in.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None = Field(ge=0, description="Running time so far or in total.")


class JobSubmitted(BaseModel):
    job_id: str
    status: JobStatus


class JobResultPublic(BaseModel):
    """A succeeded job's result; exactly the field matching ``kind`` is set."""

    job_id: str
    kind: JobKind
    analysis: ModelProfile | None = None
    optimize: OptimizeReport | None = None
    deployment: DeploymentResult | None = None
    rollout: RenderedEpisode | None = Field(
        default=None, description="The episode; its video is GET /api/v1/sim/episodes/{job_id}."
    )


class EventPublic(_Orm):
    seq: int = Field(ge=0, description="Order of the event within its job.")
    timestamp: datetime
    kind: EventKind
    stage: str
    agent: str | None
    step: str | None
    percent: float = Field(ge=0, le=100)
    message: str
    data: Json


class RunPublic(RunView):
    """One optimize run (the application layer's RunView) plus its job record."""

    job: JobPublic | None = Field(
        description="The REST job record; None for a run started from the CLI or a library "
        "call in the same workspace (its request is the library's, not a REST job request)."
    )


class DeploymentPublic(BaseModel):
    job_id: str
    status: JobStatus
    model_id: int | None
    target: str
    precision: str
    created_at: datetime
    result: DeploymentResult | None


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    database: Literal["sqlite", "postgresql", "other"]
    workers: int = Field(ge=1)
    running_jobs: int = Field(ge=0)


class BackupPublic(BaseModel):
    key: str = Field(description="Object key or file name of the backup.")
    destination: str = Field(description="s3://bucket/prefix or a local directory.")
    size_bytes: int = Field(ge=0, description="Compressed size.")
    sha256: str = Field(description="SHA-256 of the compressed file.")
    database_bytes: int = Field(ge=0, description="Size of the snapshot before compression.")
    created_at: datetime
    pruned: list[str] = Field(description="Older backups removed by the retention policy.")


TargetPublic = TargetStatus
