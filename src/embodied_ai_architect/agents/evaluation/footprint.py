"""A model's own memory footprint: the peak-RSS increase of a fresh process that loads and runs it.

The whole process's RSS (what a long-lived optimizer process shows) mixes in every library,
every earlier version and the evaluation data; it made optimized models look 1.3–2× *larger*.
Here a child process imports the model's runtime first, reads its peak RSS (``VmHWM``), then
loads the stored artifact, runs it a few times on example inputs, and reads the peak again: the
difference is what the model itself costs (weights, graph, the runtime's arena and scratch
buffers). None of the runtimes used here (ONNX Runtime CPU, torch, OpenVINO CPU) reports its
arena separately, so the arena is inside this figure, not beside it.

Run as ``python -m embodied_ai_architect.agents.evaluation.footprint '<json>'`` by
:func:`measure_footprint`; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from embodied_ai_architect.agents.child_process import exit_reason, run_python
from embodied_ai_architect.errors import EvaluationError
from embodied_ai_architect.schemas.tensors import TensorSpec

RUNS = 5
TIMEOUT_S = 300.0


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux VmHWM; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def _import_runtime(path: str) -> None:
    if path.endswith(".onnx"):
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    elif path.endswith((".pt", ".pt2")):
        import torch  # noqa: F401
    elif path.endswith(".tflite"):
        import ai_edge_litert.interpreter  # noqa: F401
    elif path.endswith(".ir.tar"):
        import openvino  # noqa: F401


def _child(args: dict[str, Any]) -> dict[str, float]:
    from embodied_ai_architect.modelio.handle import make_feeds, torch_threads

    # The registry's loader (hash check included) is imported before the baseline is read, so
    # its imports count as the process's, not the model's.
    from embodied_ai_architect.pipeline.versions import load_artifact

    _import_runtime(args["path"])
    specs = [TensorSpec.model_validate(s) for s in args["inputs"]]
    feeds = make_feeds(specs, batch=1, seed=0)
    before = _peak_rss_bytes()
    handle = load_artifact(Path(args["path"]), args["sha256"], threads=args["threads"])
    with torch_threads(args["threads"], handle):
        for _ in range(args.get("runs", RUNS)):
            handle.run(feeds)
    after = _peak_rss_bytes()
    return {"footprint_mb": max(0, after - before) / 1e6, "process_peak_mb": after / 1e6}


def measure_footprint(
    path: Path, sha256: str, inputs: list[TensorSpec], *, threads: int, runs: int = RUNS
) -> float:
    """The model's own peak-memory cost in MB (10^6 bytes), measured in a fresh process."""
    payload = json.dumps(
        {
            "path": str(path),
            "sha256": sha256,
            "threads": threads,
            "runs": runs,
            "inputs": [s.model_dump(mode="json") for s in inputs],
        }
    )
    done = run_python(
        ["-m", "embodied_ai_architect.agents.evaluation.footprint", payload],
        timeout=TIMEOUT_S,
        error=EvaluationError,
        what=f"measuring the memory of {path.name}",
        hint="the machine is overloaded; retry",
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        how = exit_reason(done) if done.returncode else "printed no result"
        raise EvaluationError(
            f"the memory probe of {path.name} {how}",
            hint="the artifact must load and run in a fresh process",
        )
    return float(json.loads(lines[-1])["footprint_mb"])


if __name__ == "__main__":  # pragma: no cover - exercised through measure_footprint
    print(json.dumps(_child(json.loads(sys.argv[1]))))
