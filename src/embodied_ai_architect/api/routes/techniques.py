"""Registered optimization techniques: manifests, config fields and availability on this host."""

from __future__ import annotations

from embodied_ai_architect.api.errors import error_responses
from embodied_ai_architect.api.routing import read_router
from embodied_ai_architect.api.schemas import ListPublic
from embodied_ai_architect.errors import ConfigError, NotFoundError
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

    try:
        spec = load_techniques().get(name)
    except ConfigError as exc:  # the registry's "unknown technique ...; available: ..."
        hint = "GET /api/v1/techniques lists the registered techniques"
        raise NotFoundError(exc.message, hint=hint) from exc
    return TechniqueInfo.from_spec(spec)
