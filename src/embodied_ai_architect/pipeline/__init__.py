"""The optimize pipeline: Upload → Analysis → Planning → Optimization → Evaluation → Results.

Public entry point: :func:`run_optimize` (the CLI, REST API and LLM tools all call it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embodied_ai_architect.schemas.progress import ProgressSink
    from embodied_ai_architect.schemas.results import OptimizeReport, OptimizeRequest
    from embodied_ai_architect.settings import Settings

__all__ = ["run_optimize"]


def run_optimize(
    request: OptimizeRequest,
    *,
    settings: Settings | None = None,
    sink: ProgressSink | None = None,
    job_id: str | None = None,
    owns_job: bool | None = None,
) -> OptimizeReport:
    """Run one optimize job end to end and return its typed report.

    Raises ConstraintError / InputError for bad input (nothing is run), and PlanningError with
    ``details["evidence"]`` when the constraints are provably unreachable (the report is still
    written to the run's folder first). Technique failures never raise: they are recorded.

    The run records itself in the store as it goes (model, versions, attempts, plan, skills).
    ``job_id``: an existing job row (the service's); the pipeline then leaves the job's
    events and final status to the caller (``owns_job=True``: the caller only created the row,
    the run records its events and status). Without it, the run creates and finishes its own job.

    Example:
        >>> report = run_optimize(OptimizeRequest(model_path=Path("cnn.pt"),
        ...     constraints=Constraints(max_accuracy_drop=1)))  # doctest: +SKIP
    """
    from embodied_ai_architect.pipeline.orchestrator import Orchestrator
    from embodied_ai_architect.schemas.progress import null_sink
    from embodied_ai_architect.settings import get_settings

    return Orchestrator(
        request,
        settings=settings or get_settings(),
        sink=sink or null_sink,
        job_id=job_id,
        owns_job=owns_job,
    ).run()
