"""Jobs as Ray tasks: the same JobSpec, handler and messages as local processes, on a cluster.

Requires the ``ray`` extra. Each job is one task with resource requests (CPUs, memory from
``EAA_JOB_MEMORY_MB``, a GPU when a deploy target needs CUDA) and ``max_calls=1`` (a fresh
worker process per job, so resource limits never leak into the next job).

Only small JSON crosses the cluster: progress messages go through one mailbox actor and the
result is the task's return value. Model files and artifacts are read and written by the
worker itself in the content-addressed store: either under ``EAA_WORKSPACE`` mounted at the
same path on every node, or, with ``EAA_ARTIFACT_S3_BUCKET``, in S3-compatible storage with a
node-local ``EAA_RAY_WORKER_WORKSPACE`` as cache (the worker downloads the job's inputs by
hash before it starts and uploads every version it commits). ``EAA_DATABASE_URL`` must be a
database every node can reach.

A lost worker or node: analyze and deploy jobs are retried up to ``EAA_RAY_MAX_RETRIES``
times (they commit nothing until they succeed); optimize jobs commit versions as they go and
are never retried, so they fail with the reason instead of recording a version twice.

    settings = Settings(executor="ray", ray_address="ray://head:10001")
    JobService(db=db, settings=settings)  # builds RayExecutor.from_settings(settings)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
from collections import defaultdict
from pathlib import Path
from typing import Any

from embodied_ai_architect.errors import EAAError
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.utils.deps import require_package
from embodied_ai_architect.workers.executor import Executor, RunningJob
from embodied_ai_architect.workers.protocol import JobSpec, WorkerMessage

# Kinds that write nothing to the store before they succeed, so running them again is safe.
log = logging.getLogger(__name__)

RETRYABLE_KINDS = frozenset({JobKind.ANALYZE, JobKind.DEPLOY})


class _Mailbox:
    """One actor per executor: workers post messages per job, the supervisor takes them."""

    def __init__(self) -> None:
        self._boxes: dict[str, list[WorkerMessage]] = defaultdict(list)

    def post(self, job_id: str, message: WorkerMessage) -> None:
        self._boxes[job_id].append(message)

    def take(self, job_id: str) -> list[WorkerMessage]:
        return self._boxes.pop(job_id, [])


def on_worker_node(spec: JobSpec, workspace: Path) -> JobSpec:
    """The spec as a worker with its own ``workspace`` sees it: settings point there (with the
    database named explicitly: SQLite's default lives in the server's workspace) and every
    path the server resolved under its workspace is moved under the worker's."""
    settings = spec.settings
    server_root = str(settings.workspace)

    def moved(value: Any) -> Any:
        if isinstance(value, str) and (value == server_root or value.startswith(server_root + "/")):
            return str(workspace) + value[len(server_root) :]
        if isinstance(value, dict):
            return {key: moved(item) for key, item in value.items()}
        if isinstance(value, list):
            return [moved(item) for item in value]
        return value

    worker_settings = settings.model_copy(
        update={"workspace": workspace, "database_url": settings.resolved_database_url}
    )
    return dataclasses.replace(spec, settings=worker_settings, request=moved(spec.request))


def fetch_inputs(spec: JobSpec) -> list[str]:
    """Download every stored artifact the request names (models, datasets) into this node's
    workspace, by hash, before the job starts; returns their workspace-relative paths."""
    from embodied_ai_architect.store.artifacts import ArtifactStore

    store = ArtifactStore(spec.settings.workspace)
    if store.remote is None:
        return []
    root = str(spec.settings.workspace) + "/"
    fetched: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)
        elif isinstance(value, str) and value.startswith(root + "runs/"):
            relative = value[len(root) :]
            if _ARTIFACT.match(relative):
                store.resolve(relative)
                fetched.append(relative)

    visit(spec.request)
    return fetched


_ARTIFACT = re.compile(r"^runs/[A-Za-z0-9_-]{1,64}/[0-9a-f]{64}(\.[A-Za-z0-9]{1,12}){0,2}$")


def _run_on_ray(spec: JobSpec, mailbox: Any) -> WorkerMessage | None:
    import ray

    from embodied_ai_architect.workers.child import execute, lower_priority
    from embodied_ai_architect.workers.limits import apply_limits

    apply_limits(spec.limits)
    lower_priority()  # as a local worker does: a co-located API keeps its share of the CPU
    context = ray.get_runtime_context()
    placement = {
        "node": f"{socket.gethostname()} (ray node {context.get_node_id()[:16]})",
        "worker": f"ray worker {context.get_worker_id()[:16]} pid {os.getpid()}",
    }
    final: list[WorkerMessage] = []
    posted: list[Any] = []

    def send(message: WorkerMessage) -> None:
        if message[0] in ("placement", "event"):
            posted[:] = [mailbox.post.remote(spec.job_id, message)]
        else:
            final.append(message)  # returned, so it cannot overtake the events

    try:
        execute(spec, send, placement=placement, setup=lambda: fetch_inputs(spec))
    except Exception:
        if not final:  # execute always sends an error first; this is only a safety net
            raise
        # The error message goes back to the job; the traceback stays in this worker's log.
        log.exception("job %s failed in its Ray worker", spec.job_id)
    if posted:
        # An actor runs one caller's calls in order: once the last post is done, all are.
        ray.get(posted[-1])
    return final[-1] if final else None


def describe_ray_failure(exc: BaseException, *, retries: int) -> str:
    """Why a Ray task ended without a result, in the words the job record keeps."""
    name = type(exc).__name__
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    if name in {"WorkerCrashedError", "NodeDiedError", "OwnerDiedError", "ActorDiedError"}:
        tried = (
            f"after {retries} retr{'y' if retries == 1 else 'ies'}"
            if retries
            else "not retried: optimize jobs commit versions as they go"
        )
        return f"the Ray worker running this job was lost ({name}; {tried}): {detail}"
    if name == "TaskCancelledError":
        return "the Ray task was cancelled"
    cause = getattr(exc, "cause", None)  # a RayTaskError wraps what the task raised
    if isinstance(cause, BaseException):
        text = str(cause).strip()
        return f"the Ray task failed: {type(cause).__name__}: {text.splitlines()[0][:300] if text else ''}"
    return f"the Ray task failed: {name}: {detail}"


class _RayRunningJob(RunningJob):
    def __init__(self, job_id: str, ray: Any, ref: Any, mailbox: Any, retries: int):
        self.job_id = job_id
        self._ray, self._ref, self._mailbox = ray, ref, mailbox
        self._retries = retries
        self._closed = False
        self._reason: str | None = None

    @property
    def pid(self) -> int | None:
        return None  # the worker may live on another machine; see the job's worker_id

    def _drain(self) -> list[WorkerMessage]:
        messages: list[WorkerMessage] = self._ray.get(self._mailbox.take.remote(self.job_id))
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
        except Exception as exc:  # RayTaskError, WorkerCrashedError, TaskCancelledError, ...
            self._reason = describe_ray_failure(exc, retries=self._retries)
            final = None
        if final is not None:
            messages.append(final)
        return messages, True

    def exit_reason(self) -> str | None:
        return self._reason

    def terminate(self, grace_s: float = 3.0) -> None:
        del grace_s
        self._ray.cancel(self._ref, force=True)
        self._closed = True
        self._drain()


def needs_gpu(spec: JobSpec) -> bool:
    """A deploy job for a target that builds with CUDA (e.g. jetson) asks Ray for a GPU."""
    if spec.kind is not JobKind.DEPLOY or "target" not in spec.request:
        return False
    from embodied_ai_architect.agents.deployment.targets.base import get_target

    try:
        return get_target(str(spec.request["target"])).get_capabilities().needs_cuda
    except EAAError:
        return False  # an unknown target fails inside the job, with the registry's message


def task_options(
    spec: JobSpec, *, cpus: float, memory_bytes: int | None, max_retries: int
) -> dict[str, Any]:
    """The Ray resource request and retry policy of one job."""
    options: dict[str, Any] = {
        "num_cpus": cpus,
        "num_gpus": 1 if needs_gpu(spec) else 0,
        "max_retries": max_retries if spec.kind in RETRYABLE_KINDS else 0,
        "name": f"eaa-{spec.kind.value}-{spec.job_id[:8]}",
    }
    if memory_bytes is not None:
        options["memory"] = memory_bytes
    return options


class RayExecutor(Executor):
    """Runs jobs on Ray. ``address=None`` joins ``RAY_ADDRESS`` or starts a local instance.

    Args:
        capacity: jobs submitted to Ray at once (Ray queues them until resources are free).
        address: ``"auto"``, ``"host:6379"`` or ``"ray://host:10001"``.
        cpus_per_job: CPUs each task requests.
        memory_mb: memory each task requests (Ray schedules by it); None requests none.
        max_retries: retries of an analyze/deploy job whose worker was lost.
        worker_workspace: the workspace path on worker nodes (None: the server's own, a shared
            mount); node-local when artifacts live in S3 (``EAA_ARTIFACT_S3_BUCKET``).
        init_kwargs: extra ``ray.init`` arguments (ignored when Ray is already initialized).

    Example:
        >>> RayExecutor(4, address="ray://head:10001", memory_mb=4096)  # doctest: +SKIP
    """

    name = "ray"

    def __init__(
        self,
        capacity: int,
        *,
        address: str | None = None,
        cpus_per_job: float = 1,
        memory_mb: int | None = None,
        max_retries: int = 1,
        worker_workspace: Path | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ):
        ray = require_package("ray", extra="ray", purpose="the Ray job executor")
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                **(init_kwargs or {}),
            )
        self.capacity = capacity
        self._ray = ray
        self._cpus = cpus_per_job
        self._memory = memory_mb * 1024**2 if memory_mb else None
        self._max_retries = max_retries
        self._worker_workspace = worker_workspace
        self._task = ray.remote(max_calls=1, max_retries=0)(_run_on_ray)
        self._mailbox = ray.remote(num_cpus=0)(_Mailbox).remote()

    @classmethod
    def from_settings(cls, settings: Settings) -> RayExecutor:
        return cls(
            settings.workers,
            address=settings.ray_address,
            cpus_per_job=settings.ray_cpus_per_job,
            memory_mb=settings.job_memory_mb,
            max_retries=settings.ray_max_retries,
            worker_workspace=settings.ray_worker_workspace,
        )

    def launch(self, spec: JobSpec) -> RunningJob:
        options = task_options(
            spec, cpus=self._cpus, memory_bytes=self._memory, max_retries=self._max_retries
        )
        # Task arguments live in the cluster's object store: the API token stays on the server.
        spec = dataclasses.replace(
            spec, settings=spec.settings.model_copy(update={"api_token": None})
        )
        if self._worker_workspace is not None:
            spec = on_worker_node(spec, self._worker_workspace)
        ref = self._task.options(**options).remote(spec, self._mailbox)
        return _RayRunningJob(spec.job_id, self._ray, ref, self._mailbox, options["max_retries"])

    def shutdown(self) -> None:
        self._ray.kill(self._mailbox)
        if self._owns_ray:
            self._ray.shutdown()
