"""The worker process body: limits, then the handler; every outcome goes back as a message."""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from embodied_ai_architect.errors import EAAError
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.workers.limits import apply_limits, pin_to_cpus
from embodied_ai_architect.workers.protocol import JobSpec, WorkerMessage


class JobHandler(Protocol):
    def __call__(
        self, request: dict[str, Any], *, job_id: str, settings: Settings, sink: Any
    ) -> dict[str, Any]: ...


def resolve_handler(path: str) -> JobHandler:
    module_name, _, attr = path.partition(":")
    handler: JobHandler = getattr(importlib.import_module(module_name), attr)
    return handler


def local_placement() -> dict[str, str]:
    """Where this process runs, as recorded on the job: host name and process id."""
    return {"node": socket.gethostname(), "worker": f"pid {os.getpid()}"}


def execute(
    spec: JobSpec,
    send: Callable[[WorkerMessage], None],
    *,
    placement: dict[str, str] | None = None,
    setup: Callable[[], object] | None = None,
) -> None:
    """Say where the job runs, run its handler, and send every outcome as one message
    (shared by all executors). ``setup`` runs first, its errors reported like the handler's
    (the Ray executor downloads the job's inputs there)."""
    from embodied_ai_architect.store.remote import export_to_environment

    # Every ArtifactStore this worker builds (pipeline, request resolution) uses the job's
    # artifact store, e.g. an S3 bucket, even where it is built from a workspace path alone.
    export_to_environment(spec.settings)
    send(("placement", placement or local_placement()))

    def sink(event: ProgressEvent) -> None:
        send(("event", event.model_dump(mode="json")))

    try:
        if setup is not None:
            setup()
        handler = resolve_handler(spec.handler)
        result = handler(spec.request, job_id=spec.job_id, settings=spec.settings, sink=sink)
        send(("result", result))
    except EAAError as exc:
        send(("error", exc.to_dict()))
    except MemoryError:
        send(
            (
                "error",
                {
                    "code": "job_out_of_memory",
                    "message": "the job ran out of memory",
                    "hint": "raise EAA_JOB_MEMORY_MB or use a smaller model / batch",
                    "details": {"memory_limit_mb": spec.limits.memory_mb},
                },
            )
        )
    except Exception as exc:
        # An unexpected bug: say what and where, without a traceback in the user-facing error.
        send(
            (
                "error",
                {
                    "code": "internal_error",
                    "message": f"{type(exc).__name__}: {exc}",
                    "hint": "this is a bug; the server log has the details",
                    "details": {},
                },
            )
        )
        raise


# Job workers yield the CPU to the API process: on a small host a running job must not make
# status reads wait (an idle machine runs the job at full speed all the same).
JOB_NICENESS = 10
_AUTOGROUP = Path("/proc/self/autogroup")


def worker_niceness(server_pid: int) -> int:
    """The niceness a worker of ``server_pid`` runs at: JOB_NICENESS above the server's."""
    return min(19, os.getpriority(os.PRIO_PROCESS, server_pid) + JOB_NICENESS)


def lower_priority() -> None:
    """Run this worker (never the server) JOB_NICENESS above its parent. Idempotent: the local
    executor already lowered it at spawn, and a reused Ray worker calls this for every task."""
    with contextlib.suppress(OSError):
        target = worker_niceness(os.getppid())
        if os.getpriority(os.PRIO_PROCESS, 0) < target:
            os.setpriority(os.PRIO_PROCESS, 0, target)


def autogroup_nice() -> int | None:
    """This session's scheduling-group niceness ("/autogroup-3 nice 0"); None without autogroup.

    A process still in the root group (its session never called setsid, e.g. a container's
    init session) reads an empty file: that group weighs as nice 0, so 0 is returned.
    """
    try:
        fields = _AUTOGROUP.read_text().split()
    except OSError:
        return None
    if not fields:
        return 0
    try:
        return int(fields[-1])
    except ValueError:
        return None


def start_own_session() -> None:
    """``os.setsid()`` (cancelling then kills the job's own children, e.g. compilers, too)
    while keeping the job below the server in CPU priority.

    With the kernel's autogroup scheduling (``kernel.sched_autogroup_enabled=1``, the default
    of most distributions) a new session is a new scheduling group, and groups share the CPU
    equally whatever their processes' niceness: measured on a 2-core host, a nice +10 worker
    in its own session took half of a contended core beside a nice 0 server, against a tenth
    in the server's session. So the new group is niced as well, relative to the server's.
    """
    inherited = autogroup_nice()
    os.setsid()
    lower_priority()
    if inherited is not None:
        with contextlib.suppress(OSError):  # raising a niceness needs no privilege
            _AUTOGROUP.write_text(str(min(19, inherited + JOB_NICENESS)))


def child_main(spec: JobSpec, conn: Connection) -> None:
    """Entry point of a local worker process."""
    start_own_session()
    pin_to_cpus(spec.limits)
    apply_limits(spec.limits)
    try:
        execute(spec, conn.send)
    finally:
        conn.close()
