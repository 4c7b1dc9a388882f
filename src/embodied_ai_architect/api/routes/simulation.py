"""Simulation: benchmark suites (read from the packaged YAML files; MuJoCo is not imported
here) and the videos of rendered episodes (``rollout`` jobs)."""

from __future__ import annotations

import re
from importlib import resources

import yaml
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from embodied_ai_architect.api.deps import DbDep, SettingsDep
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.params import JobId
from embodied_ai_architect.api.routing import read_router
from embodied_ai_architect.api.schemas import ListPublic
from embodied_ai_architect.errors import NotFoundError
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.store.repo import jobs

router = read_router("/api/v1/sim", "simulation")


class SuitePublic(BaseModel):
    id: str = Field(description="Suite id as eval_sim takes it, e.g. reach-v0/smoke.")
    name: str
    family: str = Field(description="Scene family, e.g. reach.")
    description: str
    max_steps: int = Field(ge=0, description="Steps per episode.")
    scenes: int = Field(ge=0, description="Scenes (seeds) in this split.")


@router.get("/suites", response_model=ListPublic[SuitePublic])
def list_suites() -> ListPublic[SuitePublic]:
    """Every ``<name>/<split>`` suite an optimize job can evaluate on (``eval_sim``)."""
    folder = resources.files("embodied_ai_architect.sim") / "suites"
    suites: list[SuitePublic] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        spec = yaml.safe_load(entry.read_text()) or {}
        for split, seeds in (spec.get("splits") or {}).items():
            suites.append(
                SuitePublic(
                    id=f"{spec.get('name', entry.name.removesuffix('.yaml'))}/{split}",
                    name=str(spec.get("name", "")),
                    family=str(spec.get("family", "")),
                    description=str(spec.get("description", "")),
                    max_steps=int(spec.get("max_steps", 0)),
                    scenes=int(seeds.get("count", 0)),
                )
            )
    return ListPublic[SuitePublic](data=suites, count=len(suites))


_VIDEO_NAME = re.compile(r"^episode\.(gif|mp4)$")
_VIDEO_MEDIA = {"gif": "image/gif", "mp4": "video/mp4"}


@router.get(
    "/episodes/{job_id}",
    response_class=FileResponse,
    responses={
        200: {
            "content": {
                "image/gif": {"schema": {"type": "string", "format": "binary"}},
                "video/mp4": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        **error_responses(404, 422),
    },
)
def episode_video(job_id: JobId, db: DbDep, settings: SettingsDep) -> FileResponse:
    """The video of a finished ``rollout`` job: image/gif or video/mp4 (its result says which)."""
    with db.session() as session:
        row = jobs.get_job(session, job_id=job_id)  # NotFoundError names the missing job
        kind, status, result = row.kind, row.status, row.result or {}
    name = str(result.get("video", ""))
    match = _VIDEO_NAME.match(name)
    if kind is not JobKind.ROLLOUT or status is not JobStatus.SUCCEEDED or match is None:
        raise NotFoundError(
            f"job {job_id} has no rendered episode",
            hint="submit a job of kind 'rollout' and wait until it succeeded",
        )
    # The worker writes it under workspace/runs/<job id>/rollout (see workers/requests.py).
    path = settings.workspace / "runs" / job_id / "rollout" / name
    if not path.is_file():
        raise NotFoundError(
            f"the video of job {job_id} is missing from the workspace",
            hint="render the episode again",
        )
    return FileResponse(
        path, media_type=_VIDEO_MEDIA[match.group(1)], filename=f"episode-{job_id[:8]}.{match[1]}"
    )
