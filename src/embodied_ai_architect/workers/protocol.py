"""Messages a worker sends back to the supervisor over its pipe (plain, picklable tuples)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.workers.limits import ResourceLimits

MessageType = Literal["placement", "event", "result", "error"]
# ("placement", {"node", "worker"}) first, then ("event", ProgressEvent JSON)...,
# then ("result", result JSON) | ("error", EAAError.to_dict())
WorkerMessage = tuple[MessageType, dict[str, Any]]


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs; crosses the process boundary by pickling."""

    job_id: str
    kind: JobKind
    request: dict[str, Any]
    settings: Settings
    handler: str  # "package.module:function", resolved inside the worker
    limits: ResourceLimits = field(default_factory=ResourceLimits)
