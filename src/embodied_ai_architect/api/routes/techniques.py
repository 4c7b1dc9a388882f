"""Registered optimization techniques: manifests, config fields and availability on this host."""

from __future__ import annotations

from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.routing import read_router
from embodied_ai_architect.api.schemas import ListPublic
from embodied_ai_architect.errors import NotFoundError
from embodied_ai_architect.schemas.techniques import TechniqueInfo, TechniqueSummary

router = read_router("/api/v1/techniques", "techniques")


@router.get("", response_model=ListPublic[TechniqueSummary])
def list_techniques() -> ListPublic[TechniqueSummary]:
    """Every registered technique (built-ins and plugins) and whether it can run here."""
    from embodied_ai_architect.agents.optimization.base import load_techniques

    data = [TechniqueSummary.from_spec(spec) for _, spec in load_techniques().items()]
    return ListPublic[TechniqueSummary](data=data, count=len(data))


@router.get(
    "/{name}",
    response_model=TechniqueInfo,
    responses=error_responses(404, 422),
)
def get_technique(name: str) -> TechniqueInfo:
    """One technique's manifest, its config fields (defaults, bounds, search candidates)."""
    from embodied_ai_architect.agents.optimization.base import load_techniques

    registry = load_techniques()
    if name not in registry:
        raise NotFoundError(
            f"unknown technique {name!r}; available: {', '.join(registry.names())}",
            hint="GET /api/v1/techniques lists the registered techniques",
        )
    return TechniqueInfo.from_spec(registry.get(name))
