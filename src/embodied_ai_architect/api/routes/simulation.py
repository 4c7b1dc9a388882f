"""Simulation benchmark suites (read from the packaged YAML files; MuJoCo is not imported)."""

from __future__ import annotations

from importlib import resources

import yaml
from fastapi import APIRouter
from pydantic import BaseModel, Field

from embodied_ai_architect.api.deps import ReadAccess
from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.schemas import ListPublic

router = APIRouter(prefix="/api/v1/sim", tags=["simulation"])


class SuitePublic(BaseModel):
    id: str = Field(description="Suite id as eval_sim takes it, e.g. reach-v0/smoke.")
    name: str
    family: str = Field(description="Scene family, e.g. reach.")
    description: str
    max_steps: int = Field(ge=0, description="Steps per episode.")
    scenes: int = Field(ge=0, description="Scenes (seeds) in this split.")


@router.get(
    "/suites",
    response_model=ListPublic[SuitePublic],
    dependencies=[ReadAccess],
    responses=error_responses(401),
)
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
