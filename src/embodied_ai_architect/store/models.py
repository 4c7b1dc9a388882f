"""SQLAlchemy 2 typed tables. Schema changes go through an Alembic migration in migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from embodied_ai_architect.errors import StoreError
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus

# Stable constraint names so Alembic migrations (and SQLite batch mode) can refer to them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError("naive datetime given to the store", hint="use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type) -> Enum:
    # Store enum *values* as strings without a DB-native enum type: portable across SQLite and
    # PostgreSQL, and adding a member needs no ALTER TYPE.
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class _UploadedFile:
    """Columns every uploaded file's row has (models, datasets). ``format`` and ``size_bytes``
    stay in each table: their column types differ (already-applied migrations fix them)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(Text, doc="Artifact path relative to the workspace.")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelRow(_UploadedFile, Base):
    """An uploaded model file (version 0 of a model lives in model_versions too)."""

    __tablename__ = "models"

    format: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    versions: Mapped[list[ModelVersionRow]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="ModelVersionRow.version"
    )


class ModelVersionRow(Base):
    """One immutable model version; ``parent_id`` links it to what it was derived from."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), default=None
    )
    technique: Mapped[str | None] = mapped_column(String(64), default=None)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Per-constraint verdicts (ConstraintVerdict dicts), judged once when the run that made the
    # version ended, on the figures its final choice used. None: not recorded (older rows).
    verdicts: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    # The figures those verdicts judged (re-timed in alternation for the final choice, so they
    # may differ from ``metrics``, taken when the version was registered).
    judged_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_path: Mapped[str] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[ModelRow] = relationship(back_populates="versions")


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        # The job list's order (newest first, id as tie-break) read straight from an index.
        Index("ix_jobs_created_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(64), default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, default=None, doc="{code, message, hint, details} when failed/cancelled/interrupted"
    )
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="SET NULL"), default=None, index=True
    )
    worker_pid: Mapped[int | None] = mapped_column(Integer, default=None)
    executor: Mapped[str | None] = mapped_column(
        String(16), default=None, doc="Where the job ran: 'local' or 'ray'."
    )
    worker_node: Mapped[str | None] = mapped_column(
        String(255), default=None, doc="Host name (local) or Ray node id the job ran on."
    )
    worker_id: Mapped[str | None] = mapped_column(
        String(255), default=None, doc="The worker on that node: 'pid 123' or a Ray worker id."
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class AttemptRow(Base):
    """One technique tried during a run, passed or not, with its full context."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    technique: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parent_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), default=None
    )
    result_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), default=None
    )
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verdicts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    passed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventRow(Base):
    """A progress event; ``seq`` orders a job's events (0, 1, 2, ... without gaps)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    agent: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(64))
    step: Mapped[str | None] = mapped_column(String(255), default=None)
    percent: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PlanRow(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    rationale: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    steps: Mapped[list[PlanStepRow]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="PlanStepRow.position"
    )


class PlanStepRow(Base):
    __tablename__ = "plan_steps"
    __table_args__ = (UniqueConstraint("plan_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    technique: Mapped[str] = mapped_column(Text, doc="One technique, or alternatives 'a | b'.")
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rationale: Mapped[str] = mapped_column(Text, default="")
    predicted_effect: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")

    plan: Mapped[PlanRow] = relationship(back_populates="steps")


class SkillRow(Base):
    """A learned outcome: technique X with config Y on family F for target T had effect E."""

    __tablename__ = "skills"
    __table_args__ = (Index("ix_skills_family_target", "family", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    family: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    technique: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    effect: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    passed: Mapped[bool] = mapped_column(Boolean)
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetRow(_UploadedFile, Base):
    """An uploaded data file (.npz / .npy) that optimize and deploy jobs reference by id."""

    __tablename__ = "datasets"

    format: Mapped[str] = mapped_column(String(8), doc="npz or npy")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    samples: Mapped[int] = mapped_column(BigInteger, doc="Length of the arrays' first axis.")
    labelled: Mapped[bool] = mapped_column(Boolean, doc="Has an integer array 'y'.")
    arrays: Mapped[list[Any]] = mapped_column(JSON, doc="[{name, shape, dtype}] per array.")


@event.listens_for(Session, "before_flush")
def _versions_are_immutable(session: Session, _ctx: Any, _instances: Any) -> None:
    # A version's artifact and metrics are evidence; rewriting them would falsify history.
    # One write is allowed: the verdicts, recorded once when the run that made it ends.
    for obj in session.dirty:
        if isinstance(obj, ModelVersionRow) and session.is_modified(obj):
            if _first_verdicts_only(obj):
                continue
            raise StoreError(
                f"model version {obj.id} is immutable",
                hint="record a new version derived from it instead",
            )


def _first_verdicts_only(row: ModelVersionRow) -> bool:
    """True when the only change to ``row`` sets its verdicts, and they were not recorded."""
    state = inspect(row)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    before = [*state.attrs.verdicts.history.deleted, *state.attrs.judged_metrics.history.deleted]
    return changed <= {"verdicts", "judged_metrics"} and all(value is None for value in before)
