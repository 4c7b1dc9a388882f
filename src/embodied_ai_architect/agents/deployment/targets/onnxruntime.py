"""ONNX Runtime (CPU) target: FP32 / FP16 / INT8 (static QDQ or dynamic) ONNX artifacts.

The conversions are the registered ``ort_*`` techniques; this target packages their ONNX output.

Every artifact is written after ORT's offline graph optimizations (``optimized_model_filepath``)
at the *extended* level: the *all* level adds layout transforms tied to the building CPU, which
would make the artifact unportable to the device it is meant for.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from embodied_ai_architect.agents.deployment.targets.base import (
    Conversion,
    DeployContext,
    DeploymentTarget,
    register_target,
)
from embodied_ai_architect.errors import DeploymentError, first_line
from embodied_ai_architect.modelio.handle import Framework, ModelHandle, OnnxModelHandle
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS, declared_threads
from embodied_ai_architect.schemas.deployment import DeploymentArtifact, DeploymentPrecision

OPTIMIZATION_LEVEL = "extended"


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def optimize_offline(src: Path, dst: Path, *, threads: int = 1) -> Path:
    """Apply ORT's extended graph optimizations and save the optimized graph to ``dst``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(dst)
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(src), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises pybind error types
        raise DeploymentError(
            f"ONNX Runtime cannot optimize {src.name!r}: {first_line(exc)}",
            hint="the graph uses an op or type the CPU provider lacks at this precision",
        ) from exc
    if not dst.exists():
        raise DeploymentError(
            f"ONNX Runtime did not write the optimized model {dst.name!r}",
            hint="check free disk space in the output directory",
        )
    return dst


@register_target("onnxruntime")
class OnnxRuntimeTarget(DeploymentTarget):
    """ONNX Runtime on the CPU: always available, the baseline every other target is checked against."""

    description = "ONNX Runtime, CPU execution provider (x86 / ARM)"
    runtime = "onnxruntime"
    frameworks = frozenset({Framework.ONNX})
    requires = ("onnxruntime",)

    def probe(self) -> tuple[bool, str]:
        return True, "available (CPUExecutionProvider)"

    artifact_suffix = ".onnx"
    packages = "ONNX models"
    convert_hint = "export it to ONNX first"
    artifact_format = "onnx"
    verified = (
        "fp32/fp16/int8 static+dynamic built and validated on x86-64 CPU hosts "
        "(tests/agents/deployment/test_onnxruntime_target.py)"
    )
    conversions: ClassVar[dict[tuple[DeploymentPrecision, str], Conversion]] = {
        (DeploymentPrecision.FP32, "static"): Conversion(None),
        (DeploymentPrecision.FP16, "static"): Conversion("ort_fp16"),
        (DeploymentPrecision.INT8, "static"): Conversion("ort_int8_static"),
        (DeploymentPrecision.INT8, "dynamic"): Conversion("ort_int8_dynamic"),
    }

    def package(
        self, handle: ModelHandle, precision: DeploymentPrecision, ctx: DeployContext
    ) -> DeploymentArtifact:
        artifact_path = self.package_path(handle, precision, ctx)
        assert isinstance(handle, OnnxModelHandle)  # the only handle of framework ONNX
        ctx.emit(80, "applying ONNX Runtime graph optimizations")
        optimize_offline(handle.onnx_path, artifact_path, threads=ctx.threads)
        ctx.log(f"wrote {artifact_path.name} ({OPTIMIZATION_LEVEL} graph optimizations applied)")
        details: dict[str, str | int | float | bool | None] = {
            "graph_optimization_level": OPTIMIZATION_LEVEL
        }
        if (declared := declared_threads(handle)) is not None:
            # The version was measured fastest with this many threads (ort_threads): ship it.
            details[DECLARED_THREADS] = declared
        return self.artifact(
            handle,
            artifact_path,
            precision,
            runtime_version=_ort_version(),
            details=details,
        )

    def load(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        from embodied_ai_architect.modelio.onnx_io import declare_threads, load_onnx

        # An ORT-optimized graph: the ORT session, not the ONNX checker, validates it.
        handle = load_onnx(artifact.path, input_shapes=None, threads=threads, check=False)
        declared = artifact.details.get(DECLARED_THREADS)
        # The package's own thread count wins over the caller's default: it was measured.
        return declare_threads(handle, declared) if isinstance(declared, int) else handle
