"""Per-job resource limits, applied inside the worker process before the job starts."""

from __future__ import annotations

import os
import resource

from pydantic import BaseModel, Field

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.settings import Settings


class ResourceLimits(BaseModel):
    memory_mb: int | None = Field(default=None, ge=64, description="RLIMIT_AS in MiB.")
    cpu_seconds: int | None = Field(default=None, ge=1, description="RLIMIT_CPU in seconds.")
    timeout_s: float | None = Field(default=None, gt=0, description="Wall clock (supervisor).")
    cpus: frozenset[int] | None = Field(
        default=None, description="CPU affinity of local workers (EAA_JOB_CPUS); None = all."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> ResourceLimits:
        cpus = settings.job_cpu_set
        if cpus is not None:
            # Fail at start-up, not in every job: the CPUs must exist for this server.
            allowed = os.sched_getaffinity(0)
            if not cpus or not cpus <= allowed:
                raise ConfigError(
                    f"EAA_JOB_CPUS={settings.job_cpus} names CPUs this server may not use "
                    f"(it may use {sorted(allowed)})",
                    hint="list a subset of those CPUs, e.g. EAA_JOB_CPUS=1, or unset it",
                )
        return cls(
            memory_mb=settings.job_memory_mb,
            cpu_seconds=settings.job_cpu_seconds,
            timeout_s=settings.job_timeout_s,
            cpus=cpus,
        )


def apply_limits(limits: ResourceLimits) -> None:
    """Lower this process's soft and hard limits (they can never be raised again)."""
    if limits.memory_mb is not None:
        cap = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if limits.cpu_seconds is not None:
        # Soft limit sends SIGXCPU (the job dies with a clear signal); hard limit a bit later.
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))


def pin_to_cpus(limits: ResourceLimits) -> None:
    """Keep a local worker (and what it starts) on ``limits.cpus``, so that the API process
    always has the other cores to itself."""
    if limits.cpus is not None:
        os.sched_setaffinity(0, limits.cpus)
