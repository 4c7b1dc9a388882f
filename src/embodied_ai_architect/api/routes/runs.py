"""Run history: an optimize run's plan, attempts and versions; comparing two runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from embodied_ai_architect.api.convert import job_public
from embodied_ai_architect.api.deps import DbDep
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.routing import read_router
from embodied_ai_architect.api.schemas import (
    AttemptPublic,
    MetricDelta,
    PlanPublic,
    RunComparison,
    RunPublic,
    RunSummary,
    VersionPublic,
)
from embodied_ai_architect.store.models import ModelVersionRow
from embodied_ai_architect.store.repo import history, jobs

router = read_router("/api/v1/runs", "runs")

RunId = Annotated[str, Query(pattern=r"^[0-9a-f]{32}$")]


def _versions(session: Session, job_id: str) -> list[ModelVersionRow]:
    statement = (
        select(ModelVersionRow).where(ModelVersionRow.job_id == job_id).order_by(ModelVersionRow.id)
    )
    return list(session.scalars(statement))


@router.get(
    "/compare",
    response_model=RunComparison,
    responses=error_responses(404, 422),
)
def compare_runs(a: RunId, b: RunId, db: DbDep) -> RunComparison:
    """Side by side: attempts, passes, and the metrics of each run's final version."""
    with db.session() as session:
        summaries = []
        for job_id in (a, b):
            row = jobs.get_job(session, job_id=job_id)
            attempts = history.list_attempts(session, job_id=job_id)
            produced = _versions(session, job_id)
            summaries.append(
                RunSummary(
                    job_id=job_id,
                    status=row.status,
                    attempts=len(attempts),
                    passed_attempts=sum(1 for x in attempts if x.passed),
                    best=VersionPublic.model_validate(produced[-1]) if produced else None,
                )
            )
    first, second = summaries
    ma = first.best.metrics if first.best else {}
    mb = second.best.metrics if second.best else {}
    deltas = []
    for name in sorted(set(ma) | set(mb)):
        va, vb = _number(ma.get(name)), _number(mb.get(name))
        if va is None and vb is None:
            continue
        deltas.append(
            MetricDelta(
                metric=name,
                a=va,
                b=vb,
                delta=vb - va if va is not None and vb is not None else None,
            )
        )
    return RunComparison(a=first, b=second, metrics=deltas)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@router.get(
    "/{job_id}",
    response_model=RunPublic,
    responses=error_responses(404, 422),
)
def get_run(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], db: DbDep) -> RunPublic:
    with db.session() as session:
        row = jobs.get_job(session, job_id=job_id)
        return RunPublic(
            job=job_public(row),
            plans=[
                PlanPublic.model_validate(p) for p in history.list_plans(session, job_id=job_id)
            ],
            attempts=[
                AttemptPublic.model_validate(x)
                for x in history.list_attempts(session, job_id=job_id)
            ],
            versions=[VersionPublic.model_validate(v) for v in _versions(session, job_id)],
        )
