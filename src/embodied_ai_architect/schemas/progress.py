"""Progress events: the one stream the CLI progress bar, the WebSocket and the event log consume."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field


class EventKind(StrEnum):
    PROGRESS = "progress"
    DECISION = "decision"
    METRIC = "metric"
    WARNING = "warning"
    ERROR = "error"
    RESULT = "result"


class ProgressEvent(BaseModel):
    """Something worth telling the user while long work runs."""

    percent: float = Field(ge=0, le=100, description="Overall progress of the operation.")
    stage: str = Field(description="Workflow stage, e.g. analysis, planning, optimization.")
    message: str = Field(description="Human-readable description of what happens now.")
    kind: EventKind = Field(default=EventKind.PROGRESS)
    agent: str | None = Field(default=None, description="Agent that emitted the event.")
    step: str | None = Field(default=None, description="Plan step or sub-task, if any.")
    data: dict[str, Any] = Field(
        default_factory=dict, description="Structured payload (metrics so far, decision inputs)."
    )
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ProgressSink(Protocol):
    """Anything that accepts progress events (Rich bar, event bus, WebSocket fan-out, list)."""

    def __call__(self, event: ProgressEvent) -> None: ...


def null_sink(event: ProgressEvent) -> None:
    """A sink that drops events, for library calls that nobody watches."""
    del event
