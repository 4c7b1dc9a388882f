"""Job kinds and states, shared by the store, the workers, the API and the CLI."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    ANALYZE = "analyze"
    OPTIMIZE = "optimize"
    DEPLOY = "deploy"
    ROLLOUT = "rollout"  # one rendered simulation episode


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the server stopped while the job ran; resubmit to retry

    @property
    def terminal(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


TERMINAL_STATUSES = frozenset(s for s in JobStatus if s.terminal)
