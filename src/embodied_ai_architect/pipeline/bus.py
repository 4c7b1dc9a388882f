"""One event bus per job: every progress event goes to all subscribers (CLI bar, store, WebSocket)."""

from __future__ import annotations

from typing import Any

from embodied_ai_architect.schemas.progress import EventKind, ProgressEvent, ProgressSink

MILESTONES = (0.0, 25.0, 50.0, 75.0, 100.0)


class EventBus:
    """Fans events out; keeps percents monotonic so bars never jump back, and guarantees an
    event at each milestone (0/25/50/75/100 %) even when a stage jumps across one."""

    def __init__(self, *subscribers: ProgressSink):
        self._subscribers = list(subscribers)
        self._percent = 0.0
        self._milestones = list(MILESTONES)
        self.count = 0

    def subscribe(self, sink: ProgressSink) -> None:
        self._subscribers.append(sink)

    def __call__(self, event: ProgressEvent) -> None:
        if event.percent < self._percent:
            event = event.model_copy(update={"percent": self._percent})
        while self._milestones and self._milestones[0] < event.percent:
            mark = self._milestones.pop(0)
            self._send(event.model_copy(update={"percent": mark, "kind": EventKind.PROGRESS}))
        if self._milestones and self._milestones[0] == event.percent:
            self._milestones.pop(0)
        self._percent = event.percent
        self._send(event)

    def _send(self, event: ProgressEvent) -> None:
        self.count += 1
        for subscriber in self._subscribers:
            subscriber(event)

    def emit(
        self,
        percent: float,
        stage: str,
        message: str,
        *,
        kind: EventKind = EventKind.PROGRESS,
        step: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self(
            ProgressEvent(
                percent=max(0.0, min(100.0, percent)),
                stage=stage,
                agent=stage,
                message=message,
                kind=kind,
                step=step,
                data=data or {},
            )
        )
