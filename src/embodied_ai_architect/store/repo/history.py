"""Run history: attempts (every technique tried), plans (steps + status), skills (learned)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from embodied_ai_architect.errors import NotFoundError
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.store.models import AttemptRow, JobRow, PlanRow, PlanStepRow, SkillRow
from embodied_ai_architect.store.repo._common import insert_new, require

StepStatus = Literal["pending", "running", "passed", "failed", "skipped"]


class AttemptFields(TypedDict):
    """What an attempt records besides its job (``AttemptRow``'s columns); an optional one
    left out or None takes the row's default."""

    step: int
    technique: str
    config: NotRequired[dict[str, Any] | None]
    parent_version_id: NotRequired[int | None]
    result_version_id: NotRequired[int | None]
    metrics: NotRequired[dict[str, Any] | None]
    verdicts: NotRequired[list[Any] | None]
    passed: NotRequired[bool | None]
    error: NotRequired[str | None]
    environment: NotRequired[dict[str, Any] | None]


def record_attempt(
    session: Session, *, job_id: str, **attempt: Unpack[AttemptFields]
) -> AttemptRow:
    require(session, JobRow, job_id, what="job")
    return insert_new(session, AttemptRow, job_id=job_id, **attempt)


def resolve_run_id(session: Session, *, text: str) -> str:
    """The id of the optimize run ``text`` names: its full id or a unique prefix of it."""
    if session.get(JobRow, text) is not None:
        return text
    prefixed = JobRow.id.startswith(text, autoescape=True)
    statement = select(JobRow.id).where(JobRow.kind == JobKind.OPTIMIZE, prefixed)
    matches = list(session.scalars(statement))
    if len(matches) != 1:
        raise NotFoundError(
            f"no single optimize run matches {text!r} ({len(matches)} found)",
            hint="list runs with `branes runs list` or GET /api/v1/jobs?kind=optimize",
            details={"matches": len(matches)},
        )
    return matches[0]


def list_attempts(session: Session, *, job_id: str) -> list[AttemptRow]:
    require(session, JobRow, job_id, what="job")
    statement = (
        select(AttemptRow)
        .where(AttemptRow.job_id == job_id)
        .order_by(AttemptRow.step, AttemptRow.id)
    )
    return list(session.scalars(statement))


def create_plan(
    session: Session, *, job_id: str, steps: list[dict[str, Any]], rationale: str = ""
) -> PlanRow:
    """Persist a plan; each step dict has technique, config, rationale, predicted_effect."""
    require(session, JobRow, job_id, what="job")
    plan = PlanRow(job_id=job_id, rationale=rationale)
    for position, step in enumerate(steps):
        plan.steps.append(
            PlanStepRow(
                position=position,
                technique=step["technique"],
                config=step.get("config", {}),
                rationale=step.get("rationale", ""),
                predicted_effect=step.get("predicted_effect", {}),
                status=step.get("status", "pending"),
            )
        )
    session.add(plan)
    session.flush()
    return plan


def set_step_status(
    session: Session, *, plan_id: int, position: int, status: StepStatus
) -> PlanStepRow:
    step = session.scalar(
        select(PlanStepRow).where(PlanStepRow.plan_id == plan_id, PlanStepRow.position == position)
    )
    if step is None:
        return require(session, PlanStepRow, f"{plan_id}#{position}", what="plan step")
    step.status = status
    session.flush()
    return step


def list_plans(session: Session, *, job_id: str) -> list[PlanRow]:
    require(session, JobRow, job_id, what="job")
    return list(
        session.scalars(select(PlanRow).where(PlanRow.job_id == job_id).order_by(PlanRow.id))
    )


class SkillFields(TypedDict):
    """A learned skill (``SkillRow``'s columns); an optional one left out or None takes the
    row's default."""

    family: str
    target: str
    technique: str
    passed: bool
    config: NotRequired[dict[str, Any] | None]
    effect: NotRequired[dict[str, Any] | None]
    job_id: NotRequired[str | None]


def record_skill(session: Session, **skill: Unpack[SkillFields]) -> SkillRow:
    return insert_new(session, SkillRow, **skill)


def list_skills(
    session: Session, *, family: str | None = None, target: str | None = None, limit: int = 1000
) -> list[SkillRow]:
    statement = select(SkillRow).order_by(SkillRow.id.desc()).limit(limit)
    if family is not None:
        statement = statement.where(SkillRow.family == family)
    if target is not None:
        statement = statement.where(SkillRow.target == target)
    return list(session.scalars(statement))
