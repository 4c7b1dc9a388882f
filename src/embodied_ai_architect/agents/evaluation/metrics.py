"""Metrics for one model version: size on disk, parameters, latency, throughput, memory, accuracy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from embodied_ai_architect.agents.evaluation.latency import measure_latency
from embodied_ai_architect.errors import EAAError, EvaluationError
from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle, torch_threads
from embodied_ai_architect.modelio.onnx_io import declared_threads
from embodied_ai_architect.schemas.evaluation import TaskEvaluator, TaskScore
from embodied_ai_architect.schemas.results import VersionMetrics


def artifact_bytes(path: Path) -> int:
    """Bytes on disk of an artifact: a file, or every file of a directory artifact (IR + weights)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    total = path.stat().st_size
    # ONNX external data lives beside the graph; count it too.
    for sibling in (path.with_suffix(path.suffix + ".data"), path.with_suffix(".bin")):
        if sibling != path and sibling.exists():
            total += sibling.stat().st_size
    return total


def count_parameters(handle: ModelHandle) -> int:
    module = getattr(handle, "module", None)
    if module is not None:
        return int(sum(p.numel() for p in module.parameters()))
    if isinstance(handle, OnnxModelHandle):
        import onnx

        proto = onnx.load(str(handle.onnx_path), load_external_data=False)
        total = 0
        for init in proto.graph.initializer:
            count = 1
            for dim in init.dims:
                count *= int(dim)
            total += count
        return total
    return int(handle.metadata.get("parameters", 0))


def effective_threads(handle: ModelHandle, threads: int) -> int:
    """The thread count ``handle`` is measured and shipped with: the count it declares
    (technique ``ort_threads``), else the run's ``threads``."""
    return declared_threads(handle) or threads


def pinned(handle: ModelHandle, threads: int) -> ModelHandle:
    """The same ONNX model with a session fixed to ``threads``, or to the count the version
    declares (every figure records the count it was measured with)."""
    threads = effective_threads(handle, threads)
    if isinstance(handle, OnnxModelHandle) and handle.threads != threads:
        return handle.with_threads(threads)
    return handle


def measure_version(
    handle: ModelHandle,
    artifact: Path,
    *,
    evaluator: TaskEvaluator | None,
    reference: ModelHandle | None,
    threads: int,
    runs: int = 60,
    warmup: int = 5,
    max_seconds: float = 4.0,
    reference_ms: float | None = None,
    score: TaskScore | None = None,
) -> VersionMetrics:
    """Measure everything the constraints and the report need for one version.

    ``reference_ms``: the parent's p50, so timing can stop once the ranking is clear.
    ``score``: a task score already computed (a failed screen), so the evaluator is not run."""
    started = time.perf_counter()
    threads = effective_threads(handle, threads)
    handle = pinned(handle, threads)
    try:
        stats = measure_latency(
            handle,
            threads=threads,
            warmup=warmup,
            runs=runs,
            max_seconds=max_seconds,
            reference_ms=reference_ms,
        )
    except EAAError:
        raise
    except Exception as exc:  # runtimes raise their own types
        raise EvaluationError(
            f"timing {handle.name!r} failed: {type(exc).__name__}: {exc}",
            hint="the version cannot run on this host's runtime",
        ) from exc
    if score is None and evaluator is not None:
        score = task_score(evaluator, handle, reference=reference, threads=threads)
    return VersionMetrics(
        size_bytes=artifact_bytes(artifact),
        parameters=count_parameters(handle),
        runtime=stats.runtime,
        p50_ms=stats.p50_ms,
        p95_ms=stats.p95_ms,
        throughput_per_s=1000.0 * stats.batch_size / stats.p50_ms if stats.p50_ms > 0 else 0.0,
        peak_memory_mb=stats.peak_memory_mb,
        threads=threads,
        measure_seconds=time.perf_counter() - started,
        **score_fields(score),
    )


def task_score(
    evaluator: TaskEvaluator, handle: ModelHandle, *, reference: ModelHandle | None, threads: int
) -> TaskScore:
    """Score ``handle`` with the thread count it is measured with (its declared one, else
    ``threads``). Task evaluators may run torch themselves (references, simulators): pin it too."""
    threads = effective_threads(handle, threads)
    with torch_threads(threads):
        return evaluator.evaluate(pinned(handle, threads), reference=reference)


def score_fields(score: TaskScore | None) -> dict[str, Any]:
    """The VersionMetrics fields a task score fills (empty figures without one)."""
    return {
        "accuracy": score.value if score else None,
        "accuracy_metric": score.metric if score else None,
        "accuracy_evaluator": score.evaluator if score else None,
        "accuracy_details": score.details if score else {},
        "accuracy_samples": score.samples if score else None,
    }
