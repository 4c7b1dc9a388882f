"""Per-job resource limits, applied inside the worker process before the job starts."""

from __future__ import annotations

import resource

from pydantic import BaseModel, Field

from embodied_ai_architect.settings import Settings


class ResourceLimits(BaseModel):
    memory_mb: int | None = Field(default=None, ge=64, description="RLIMIT_AS in MiB.")
    cpu_seconds: int | None = Field(default=None, ge=1, description="RLIMIT_CPU in seconds.")
    timeout_s: float | None = Field(default=None, gt=0, description="Wall clock (supervisor).")

    @classmethod
    def from_settings(cls, settings: Settings) -> ResourceLimits:
        return cls(
            memory_mb=settings.job_memory_mb,
            cpu_seconds=settings.job_cpu_seconds,
            timeout_s=settings.job_timeout_s,
        )


def apply_limits(limits: ResourceLimits) -> None:
    """Lower this process's soft and hard limits (they can never be raised again)."""
    if limits.memory_mb is not None:
        cap = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if limits.cpu_seconds is not None:
        # Soft limit sends SIGXCPU (the job dies with a clear signal); hard limit a bit later.
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
