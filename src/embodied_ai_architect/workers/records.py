"""Turn a finished job's result into history rows: versions, attempts, plan (optimize jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store.models import ModelVersionRow
from embodied_ai_architect.store.repo import history, models, versions


def record_analysis(session: Session, *, model_id: int | None, profile: dict[str, Any]) -> None:
    if model_id is not None:
        models.set_profile(session, model_id=model_id, profile=profile)


def record_optimize_report(
    session: Session,
    *,
    job_id: str,
    model_id: int | None,
    report: dict[str, Any],
    settings: Settings,
) -> None:
    """Store the run's new versions (v1, v2, ... of the pipeline) as model versions, every
    attempt with its parent/result version, and the chosen plan with per-step status."""
    from embodied_ai_architect.schemas.results import OptimizeReport

    if history.list_attempts(session, job_id=job_id) or history.list_plans(session, job_id=job_id):
        return  # the pipeline recorded its own history against this job id
    parsed = OptimizeReport.model_validate(report)
    ids: dict[str, int] = {}
    if model_id is not None:
        base = session.scalar(
            select(ModelVersionRow)
            .where(
                ModelVersionRow.model_id == model_id,
                ModelVersionRow.artifact_sha256 == parsed.baseline.sha256,
            )
            .order_by(ModelVersionRow.version.desc())
            .limit(1)
        )
        if base is not None:
            ids[parsed.baseline.id] = base.id
        for record in parsed.versions:
            if record.id == parsed.baseline.id:
                continue
            row = versions.create_version(
                session,
                model_id=model_id,
                parent_id=ids.get(record.parent or ""),
                technique=record.technique,
                config=record.config,
                metrics=record.metrics.model_dump(mode="json"),
                artifact_sha256=record.sha256,
                artifact_path=_relative(record.path, settings.workspace),
                job_id=job_id,
                note=f"run {job_id} {record.id}",
            )
            ids[record.id] = row.id
    environment = parsed.environment.model_dump(mode="json")
    for attempt in parsed.attempts:
        history.record_attempt(
            session,
            job_id=job_id,
            step=attempt.index,
            technique=attempt.technique,
            config=attempt.config,
            parent_version_id=ids.get(attempt.parent_version),
            result_version_id=ids.get(attempt.version or ""),
            metrics=attempt.metrics.model_dump(mode="json") if attempt.metrics else {},
            verdicts=[v.model_dump(mode="json") for v in attempt.verdicts],
            passed=attempt.status.value == "accepted",
            error=attempt.reason or (attempt.error or {}).get("message"),
            environment=environment,
        )
    if parsed.chosen_plan is not None:
        history.create_plan(
            session,
            job_id=job_id,
            rationale=parsed.chosen_plan.rationale,
            steps=[
                {
                    "technique": step.candidates[0].technique
                    if step.candidates
                    else step.objective,
                    "config": {"id": step.id, "objective": step.objective},
                    "rationale": step.rationale,
                    "predicted_effect": step.predicted,
                    "status": step.status.value,
                }
                for step in parsed.chosen_plan.steps
            ],
        )


def _relative(path: Path, workspace: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(workspace)) if path.is_relative_to(workspace) else str(path)
