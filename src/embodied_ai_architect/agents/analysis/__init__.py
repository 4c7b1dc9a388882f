"""Analysis agent: model profile (size, MACs, census, family, latency, sensitivity, host).

Public API (imported lazily so ``import embodied_ai_architect.agents.analysis`` stays light):
:class:`AnalysisRequest`, :class:`AnalysisAgent`, :func:`analyze_model`, :func:`probe_host`,
:func:`capability_matrix`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embodied_ai_architect.agents.analysis.agent import AnalysisAgent, analyze_model
    from embodied_ai_architect.agents.analysis.host import capability_matrix, probe_host
    from embodied_ai_architect.schemas.analysis import AnalysisRequest

__all__ = ["AnalysisAgent", "AnalysisRequest", "analyze_model", "capability_matrix", "probe_host"]

_LOCATIONS = {
    "AnalysisAgent": "embodied_ai_architect.agents.analysis.agent",
    "analyze_model": "embodied_ai_architect.agents.analysis.agent",
    # The request schema lives with the other schemas (every surface builds it).
    "AnalysisRequest": "embodied_ai_architect.schemas.analysis",
    "probe_host": "embodied_ai_architect.agents.analysis.host",
    "capability_matrix": "embodied_ai_architect.agents.analysis.host",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        import importlib

        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
