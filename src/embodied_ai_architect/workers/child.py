"""The worker process body: limits, then the handler; every outcome goes back as a message."""

from __future__ import annotations

import importlib
import os
from multiprocessing.connection import Connection
from typing import Any, Protocol

from embodied_ai_architect.errors import EAAError
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.workers.limits import apply_limits
from embodied_ai_architect.workers.protocol import JobSpec


class JobHandler(Protocol):
    def __call__(
        self, request: dict[str, Any], *, job_id: str, settings: Settings, sink: Any
    ) -> dict[str, Any]: ...


def resolve_handler(path: str) -> JobHandler:
    module_name, _, attr = path.partition(":")
    handler: JobHandler = getattr(importlib.import_module(module_name), attr)
    return handler


def child_main(spec: JobSpec, conn: Connection) -> None:
    # Own process group: cancelling kills the job's own children (e.g. compilers) too.
    os.setsid()
    apply_limits(spec.limits)

    def sink(event: ProgressEvent) -> None:
        conn.send(("event", event.model_dump(mode="json")))

    try:
        handler = resolve_handler(spec.handler)
        result = handler(spec.request, job_id=spec.job_id, settings=spec.settings, sink=sink)
        conn.send(("result", result))
    except EAAError as exc:
        conn.send(("error", exc.to_dict()))
    except MemoryError:
        conn.send(
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
        conn.send(
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
    finally:
        conn.close()
