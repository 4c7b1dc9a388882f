"""Job bodies for the worker tests: they run in real spawned worker processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.schemas.progress import ProgressEvent


def steps(request: dict[str, Any], *, job_id: str, settings: Any, sink: Any) -> dict[str, Any]:
    for pct in (0, 25, 50, 75, 100):
        sink(ProgressEvent(percent=pct, stage="test", message=f"step {pct}", data={"pct": pct}))
        time.sleep(request.get("delay", 0.0))
    return {"job_id": job_id, "pid": os.getpid(), "echo": request.get("echo"), "nice": os.nice(0)}


def sleeper(request: dict[str, Any], *, job_id: str, settings: Any, sink: Any) -> dict[str, Any]:
    sink(ProgressEvent(percent=1, stage="test", message="sleeping"))
    time.sleep(request.get("seconds", 60))
    return {"slept": True}


def suicide(request: dict[str, Any], *, job_id: str, settings: Any, sink: Any) -> dict[str, Any]:
    sink(ProgressEvent(percent=10, stage="test", message="about to die"))
    time.sleep(0.2)  # let the event reach the pipe before the kill
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def hog(request: dict[str, Any], *, job_id: str, settings: Any, sink: Any) -> dict[str, Any]:
    blob = bytearray(2 * 1024**3)  # 2 GiB: above the test's memory limit
    return {"len": len(blob)}


def bad_config(request: dict[str, Any], *, job_id: str, settings: Any, sink: Any) -> dict[str, Any]:
    raise ConfigError("technique 'x' needs calibration data", hint="pass --calibration")


def sleep_until_marked(
    request: dict[str, Any], *, job_id: str, settings: Any, sink: Any
) -> dict[str, Any]:
    """Appends one line per attempt to request['marker']; only the first attempt sleeps
    (so a retry after the worker was killed finishes at once)."""
    marker = Path(request["marker"])
    first = not marker.exists()
    with marker.open("a") as out:
        out.write(f"{os.getpid()}\n")
    sink(ProgressEvent(percent=5, stage="test", message="attempt started"))
    if first:
        time.sleep(request.get("seconds", 60))
    return {"attempts": len(marker.read_text().splitlines())}


def cpu_share(request: dict[str, Any], *, job_id: str, settings: Any, sink: Any) -> dict[str, Any]:
    """How the worker is scheduled: its session, niceness, CPU affinity and autogroup."""
    from embodied_ai_architect.workers.child import autogroup_nice

    return {
        "pid": os.getpid(),
        "sid": os.getsid(0),
        "nice": os.nice(0),
        "cpus": sorted(os.sched_getaffinity(0)),
        "autogroup_nice": autogroup_nice(),
    }
