"""ONNX Runtime intra-op thread count as a measured runtime decision (issue #15).

At batch 1 a small model loses time to synchronising ORT's intra-op thread pool: on the 2-core
EPYC the reach VLA policy ran 1.21× faster with 1 thread than with 2 (docs/benchmarks.md, run 4,
interleaved). So the thread count is a candidate like any other: this technique makes a new
version with the *same* ONNX file that declares its session's intra-op thread count
(``handle.metadata[DECLARED_THREADS]``); timing (``metrics.pinned``), the registry and the
onnxruntime deployment honour it, and the search keeps it only if it measures faster. (Olive's
``OrtSessionParamsTuning`` tunes the same session options.)
"""

from __future__ import annotations

from typing import ClassVar

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import thread_count_field
from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle
from embodied_ai_architect.modelio.onnx_io import declare_threads, declared_threads

TECHNIQUE = "ort_threads"


class OrtThreadsConfig(TechniqueConfig):
    """The intra-op thread count the version's ONNX Runtime session runs with."""

    technique: ClassVar[str] = TECHNIQUE

    intra_op_threads: int = thread_count_field(
        "ONNX Runtime intra-op threads of the version's session"
    )


@register_technique(
    OrtThreadsConfig,
    TechniqueManifest.onnxruntime_rewrite(
        TechniqueFamily.RUNTIME,
        "ONNX Runtime intra-op thread count, chosen by measurement (the model file is "
        "unchanged; the version and its deployment run with that many threads).",
    ),
)
def ort_threads(
    handle: ModelHandle, config: OrtThreadsConfig, ctx: TechniqueContext
) -> TechniqueResult:
    assert isinstance(handle, OnnxModelHandle)  # the manifest takes ONNX models only
    before = declared_threads(handle) or ctx.threads
    ctx.emit(50, f"ONNX Runtime session with {config.intra_op_threads} intra-op thread(s)")
    result = declare_threads(handle, config.intra_op_threads)
    return TechniqueResult(
        handle=result,
        changes=[
            f"ONNX Runtime intra-op threads {before} → {config.intra_op_threads} (model file "
            "unchanged)"
        ],
        metrics={
            "intra_op_threads_before": float(before),
            "intra_op_threads": float(config.intra_op_threads),
        },
    )
