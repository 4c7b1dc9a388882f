"""Jobs as Ray tasks: the same JobSpec, handler and messages as local processes, on a cluster.

Requires the ``ray`` extra. Each job is a task with ``max_calls=1`` (a fresh worker process
per job, so resource limits never leak into the next job) and no retries (a crashed job
fails with its reason instead of silently running twice). Progress comes back through a
``ray.util.queue.Queue``; the result is the task's return value.

    executor = RayExecutor(capacity=8, address="ray://head:10001")
    JobService(db=db, settings=settings, executor=executor)
"""

from __future__ import annotations

from typing import Any

from embodied_ai_architect.utils.deps import require_package
from embodied_ai_architect.workers.executor import Executor, RunningJob
from embodied_ai_architect.workers.protocol import JobSpec, WorkerMessage


def _run_on_ray(spec: JobSpec, queue: Any) -> WorkerMessage | None:
    from embodied_ai_architect.workers.child import execute
    from embodied_ai_architect.workers.limits import apply_limits

    apply_limits(spec.limits)
    final: list[WorkerMessage] = []

    def send(message: WorkerMessage) -> None:
        if message[0] == "event":
            queue.put(message)
        else:
            final.append(message)  # returned, so it cannot overtake the events in the queue

    execute(spec, send)
    return final[-1] if final else None


class _RayRunningJob(RunningJob):
    def __init__(self, job_id: str, ray: Any, ref: Any, queue: Any):
        self.job_id = job_id
        self._ray, self._ref, self._queue = ray, ref, queue
        self._closed = False
        self._reason: str | None = None

    @property
    def pid(self) -> int | None:
        return None  # the worker may live on another machine

    def _drain(self) -> list[WorkerMessage]:
        messages: list[WorkerMessage] = []
        while not self._queue.empty():
            messages.append(self._queue.get_nowait())
        return messages

    def receive(self) -> tuple[list[WorkerMessage], bool]:
        if self._closed:
            return [], True
        ready, _ = self._ray.wait([self._ref], timeout=0)
        messages = self._drain()
        if not ready:
            return messages, False
        messages += self._drain()
        self._closed = True
        try:
            final = self._ray.get(self._ref)
        except Exception as exc:  # RayTaskError, WorkerCrashedError, TaskCancelledError
            self._reason = f"the Ray task failed: {type(exc).__name__}: {str(exc)[:300]}"
            final = None
        if final is not None:
            messages.append(final)
        return messages, True

    def exit_reason(self) -> str | None:
        return self._reason

    def terminate(self, grace_s: float = 3.0) -> None:
        del grace_s
        self._ray.cancel(self._ref, force=True)


class RayExecutor(Executor):
    """Runs jobs on Ray. ``address=None`` joins ``RAY_ADDRESS`` or starts a local instance."""

    def __init__(
        self,
        capacity: int,
        *,
        address: str | None = None,
        cpus_per_job: float = 1,
        init_kwargs: dict[str, Any] | None = None,
    ):
        ray = require_package("ray", extra="ray", purpose="the Ray job executor")
        if not ray.is_initialized():
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                **(init_kwargs or {}),
            )
        self.capacity = capacity
        self._ray = ray
        self._task = ray.remote(max_calls=1, max_retries=0, num_cpus=cpus_per_job)(_run_on_ray)

    def launch(self, spec: JobSpec) -> RunningJob:
        from ray.util.queue import Queue

        queue = Queue()
        ref = self._task.remote(spec, queue)
        return _RayRunningJob(spec.job_id, self._ray, ref, queue)

    def shutdown(self) -> None:
        self._ray.shutdown()
