"""One handler per job kind: turn the stored request into the library call, return JSON.

Handlers run inside the worker process, so heavy imports (torch, onnxruntime) happen there
and never in the API server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.schemas.progress import ProgressSink
from embodied_ai_architect.settings import Settings

if TYPE_CHECKING:
    from embodied_ai_architect.agents.base import AgentContext

DEFAULT_HANDLERS: dict[JobKind, str] = {
    JobKind.ANALYZE: "embodied_ai_architect.workers.handlers:run_analyze",
    JobKind.OPTIMIZE: "embodied_ai_architect.workers.handlers:run_optimize",
    JobKind.DEPLOY: "embodied_ai_architect.workers.handlers:run_deploy",
    JobKind.ROLLOUT: "embodied_ai_architect.workers.handlers:run_rollout",
}


def _agent_call(
    call: Callable[[Any, AgentContext], BaseModel],
    request_type: type[BaseModel],
    request: dict[str, Any],
    settings: Settings,
    sink: ProgressSink,
) -> dict[str, Any]:
    """Validate the stored request and run one agent with the worker's context."""
    from embodied_ai_architect.agents.base import AgentContext

    result = call(request_type.model_validate(request), AgentContext.from_settings(settings, sink))
    return result.model_dump(mode="json")


def run_analyze(
    request: dict[str, Any], *, job_id: str, settings: Settings, sink: ProgressSink
) -> dict[str, Any]:
    from embodied_ai_architect.agents.analysis.agent import analyze_model
    from embodied_ai_architect.schemas.analysis import AnalysisRequest

    del job_id
    return _agent_call(analyze_model, AnalysisRequest, request, settings, sink)


def run_optimize(
    request: dict[str, Any], *, job_id: str, settings: Settings, sink: ProgressSink
) -> dict[str, Any]:
    from embodied_ai_architect import pipeline
    from embodied_ai_architect.schemas.results import OptimizeRequest

    optimize_request = OptimizeRequest.model_validate(request)
    # The job id is the run id: the pipeline records plans, attempts, versions and skills
    # against this job (and leaves events and the job's status to the service).
    report = pipeline.run_optimize(optimize_request, settings=settings, sink=sink, job_id=job_id)
    return report.model_dump(mode="json")


def run_deploy(
    request: dict[str, Any], *, job_id: str, settings: Settings, sink: ProgressSink
) -> dict[str, Any]:
    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.agents.deployment.agent import deploy_model
    from embodied_ai_architect.schemas.deployment import DeployRequest

    # A one-step run through the pipeline, recorded under this job (the service stores the
    # events and the job's status, as for optimize).
    result = deploy_model(
        DeployRequest.model_validate(request),
        AgentContext.from_settings(settings, sink),
        job_id=job_id,
    )
    return result.model_dump(mode="json")


def run_rollout(
    request: dict[str, Any], *, job_id: str, settings: Settings, sink: ProgressSink
) -> dict[str, Any]:
    from embodied_ai_architect.sim.render import EpisodeRenderRequest, render_episode

    del job_id, settings
    episode = render_episode(EpisodeRenderRequest.model_validate(request), sink=sink)
    return episode.model_dump(mode="json")
