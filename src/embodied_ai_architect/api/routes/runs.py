"""Run history: the run list (optimize and deploy runs), a run's plan, attempts and versions;
comparing two runs.

All read through :mod:`embodied_ai_architect.application.runs`, the one implementation the
CLI and the LLM tools use too; these routes add the job record and hide server paths.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import ValidationError

from embodied_ai_architect.api.convert import hide_server_paths, job_public
from embodied_ai_architect.api.deps import DbDep
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.routing import list_route, read_router
from embodied_ai_architect.api.schemas import ListPublic, RunPublic
from embodied_ai_architect.application import runs
from embodied_ai_architect.schemas.runs import RunComparison, RunKind, RunListItem
from embodied_ai_architect.store.repo import jobs

router = read_router("/api/v1/runs", "runs")

RunId = Annotated[str, Query(pattern=r"^[0-9a-f]{32}$")]


@list_route(router, RunListItem)
def list_runs(
    db: DbDep,
    kind: Annotated[
        RunKind | None, Query(description="Only runs of this kind (default: both).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ListPublic[RunListItem]:
    """Recent runs, newest first: optimize runs, and deploy runs with their target and
    precision; ``count`` is how many runs of the kind there are in all."""
    items, count = runs.run_page(db, kind=kind, limit=limit)
    data = [RunListItem.model_validate(hide_server_paths(i.model_dump(mode="json"))) for i in items]
    return ListPublic[RunListItem](data=data, count=count)


@router.get(
    "/compare",
    response_model=RunComparison,
    responses=error_responses(404, 422),
)
def compare_runs(a: RunId, b: RunId, db: DbDep) -> RunComparison:
    """Side by side: attempts, passes, and the metrics of each run's final version."""
    comparison = runs.compare_runs(db, a, b)
    return RunComparison.model_validate(hide_server_paths(comparison.model_dump(mode="json")))


@router.get(
    "/{job_id}",
    response_model=RunPublic,
    responses=error_responses(404, 422),
)
def get_run(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], db: DbDep) -> RunPublic:
    with db.session() as session:
        view = runs.run_view(session, job_id)
        row = jobs.get_job(session, job_id=job_id)
        try:
            job = job_public(row)
        except ValidationError:
            job = None  # a CLI / library run: its stored request is not a REST job request
    # Results are public: server paths (deployment artifacts, errors) become relative.
    return RunPublic.model_validate({**hide_server_paths(view.model_dump(mode="json")), "job": job})
