"""Deployment targets (with availability on this host) and deploy job results."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from embodied_ai_architect.api.deps import DbDep
from embodied_ai_architect.api.routing import list_route, read_router
from embodied_ai_architect.api.schemas import DeploymentPublic, ListPublic, TargetPublic
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.store.repo import jobs

router = read_router("/api/v1/deployments", "deployments")


@router.get("/targets", response_model=ListPublic[TargetPublic])
def list_targets() -> ListPublic[TargetPublic]:
    """Every registered target, whether it can run on this host, and why not."""
    from embodied_ai_architect.agents.deployment.targets.base import list_targets as targets

    statuses = targets()
    return ListPublic[TargetPublic](data=statuses, count=len(statuses))


@list_route(router, DeploymentPublic)
def list_deployments(
    db: DbDep,
    status: JobStatus | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> ListPublic[DeploymentPublic]:
    with db.session() as session:
        rows, count = jobs.list_jobs(
            session, kind=JobKind.DEPLOY, status=status, offset=offset, limit=limit
        )
        data = [
            DeploymentPublic.model_validate(
                {
                    "job_id": r.id,
                    "status": r.status,
                    "model_id": r.model_id,
                    "target": r.request.get("target", "onnxruntime"),
                    "precision": r.request.get("precision", "fp32"),
                    "created_at": r.created_at,
                    "result": r.result if r.status is JobStatus.SUCCEEDED else None,
                }
            )
            for r in rows
        ]
    return ListPublic[DeploymentPublic](data=data, count=count)
