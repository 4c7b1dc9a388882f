"""Agent base class: a typed ``execute`` plus progress reporting through one sink."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from embodied_ai_architect.schemas.progress import EventKind, ProgressEvent, ProgressSink, null_sink
from embodied_ai_architect.settings import Settings

InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")


@dataclass
class AgentContext:
    """What every agent may use: settings, the progress sink, a seed, and a scope for percents.

    ``span`` maps the agent's own 0–100 % onto a slice of the overall job, so a pipeline can
    give analysis 0–20 %, optimization 30–80 %, and so on.
    """

    settings: Settings
    sink: ProgressSink = null_sink
    seed: int = 0
    span: tuple[float, float] = (0.0, 100.0)
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, sink: ProgressSink = null_sink) -> AgentContext:
        """The one way every face (CLI, REST workers, LLM tools) builds a context: the seed
        always comes from the settings, so the same request decides the same way everywhere."""
        return cls(settings=settings, sink=sink, seed=settings.seed)

    def scoped(self, start: float, end: float) -> AgentContext:
        low, high = self.span
        width = high - low
        return AgentContext(
            settings=self.settings,
            sink=self.sink,
            seed=self.seed,
            span=(low + width * start / 100, low + width * end / 100),
            extras=self.extras,
        )

    def overall(self, percent: float) -> float:
        low, high = self.span
        return max(0.0, min(100.0, low + (high - low) * max(0.0, min(100.0, percent)) / 100))


class Agent(ABC, Generic[InputT, OutputT]):
    """One agent = one job in the workflow. Subclasses implement :meth:`run`."""

    name: str = "agent"
    stage: str = "agent"

    def __init__(self, ctx: AgentContext):
        self.ctx = ctx

    def emit_progress(
        self,
        percent: float,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        kind: EventKind = EventKind.PROGRESS,
        step: str | None = None,
    ) -> None:
        self.ctx.sink(
            ProgressEvent(
                percent=self.ctx.overall(percent),
                stage=self.stage,
                agent=self.name,
                step=step,
                kind=kind,
                message=message,
                data=data or {},
            )
        )

    def execute(self, request: InputT) -> OutputT:
        """Run the agent, framing its work with 0 % and 100 % progress events."""
        started = time.perf_counter()
        self.emit_progress(0, f"{self.name} started")
        result = self.run(request)
        self.emit_progress(
            100, f"{self.name} finished", {"seconds": round(time.perf_counter() - started, 3)}
        )
        return result

    @abstractmethod
    def run(self, request: InputT) -> OutputT:
        """Do the work; call ``emit_progress`` at meaningful milestones."""
