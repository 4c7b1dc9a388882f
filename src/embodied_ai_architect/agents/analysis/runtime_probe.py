"""Latency on this host (ONNX Runtime and the source runtime) and ORT graph-optimization headroom."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from embodied_ai_architect.errors import EAAError
from embodied_ai_architect.modelio.handle import Feeds, ModelHandle, OnnxModelHandle
from embodied_ai_architect.schemas.profile import LatencyStats


@dataclass
class GraphOptimization:
    """Node counts before / after ONNX Runtime's extended graph optimizations."""

    nodes_before: int
    nodes_after: int

    @property
    def reduction(self) -> float:
        return 1 - self.nodes_after / self.nodes_before if self.nodes_before else 0.0


@dataclass
class RuntimeReport:
    latency: list[LatencyStats] = field(default_factory=list)
    graph_optimization: GraphOptimization | None = None
    warnings: list[str] = field(default_factory=list)


def ort_graph_optimization(onnx_path: Path, threads: int) -> GraphOptimization:
    """Let ORT write its optimized graph and count nodes: what onnx_graph_optimize would remove."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="branes-ortopt-") as tmp:
        out = Path(tmp) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(out)
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        after = len(onnx.load(str(out), load_external_data=False).graph.node)
    before = len(onnx.load(str(onnx_path), load_external_data=False).graph.node)
    return GraphOptimization(nodes_before=before, nodes_after=after)


def measure_runtimes(
    handle: ModelHandle,
    onnx_handle: OnnxModelHandle | None,
    *,
    threads: int,
    runs: int,
    warmup: int,
    max_seconds: float,
    on_step: Callable[[str], None] | None = None,
) -> RuntimeReport:
    """Time ORT on the ONNX graph and the source runtime (torch eager, ...) on the same feeds."""
    from embodied_ai_architect.agents.evaluation.latency import measure_latency

    report = RuntimeReport()

    def time_runtime(label: str, timed: ModelHandle, inputs: Feeds) -> None:
        if on_step:
            on_step(f"timing {label}")
        report.latency.append(
            measure_latency(
                timed,
                threads=threads,
                warmup=warmup,
                runs=runs,
                max_seconds=max_seconds,
                feeds=inputs,
            )
        )

    feeds = handle.example_inputs(batch=1, seed=0)
    if onnx_handle is not None:
        ort_handle = onnx_handle.with_threads(threads)
        renamed = {
            dst.name: feeds[src.name]
            for src, dst in zip(handle.inputs, ort_handle.inputs, strict=True)
        }
        time_runtime("onnxruntime", ort_handle, renamed)
        try:
            report.graph_optimization = ort_graph_optimization(ort_handle.onnx_path, threads)
        except Exception as exc:  # ORT errors are pybind types; recorded, the timing stands
            report.warnings.append(f"ORT graph optimization could not be measured: {exc}")
    if not isinstance(handle, OnnxModelHandle):
        try:
            time_runtime(handle.framework.value, handle, feeds)
        except EAAError as exc:
            report.warnings.append(f"{handle.framework.value} latency failed: {exc}")
    return report
