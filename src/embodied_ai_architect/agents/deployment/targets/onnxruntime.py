"""ONNX Runtime (CPU) target: FP32 / FP16 / INT8 (static QDQ or dynamic) ONNX artifacts.

Every artifact is written after ORT's offline graph optimizations (``optimized_model_filepath``)
at the *extended* level: the *all* level adds layout transforms tied to the building CPU, which
would make the artifact unportable to the device it is meant for.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from embodied_ai_architect.agents.deployment.models import DeploymentArtifact, DeploymentPrecision
from embodied_ai_architect.agents.deployment.targets.base import (
    DeployContext,
    DeploymentTarget,
    TargetCapabilities,
    file_size,
    register_target,
    shapes_of,
)
from embodied_ai_architect.errors import ConfigError, DeploymentError, InputError
from embodied_ai_architect.utils.deps import has_package
from embodied_ai_architect.utils.host import dynamic_reduce_range, needs_reduce_range

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle

OPTIMIZATION_LEVEL = "extended"


class _ProviderReader:
    """Adapts a CalibrationProvider to ORT's CalibrationDataReader protocol (get_next/rewind)."""

    def __init__(self, provider: CalibrationProvider, input_names: list[str]):
        self.provider = provider
        self.input_names = input_names
        self._iterator = iter(provider.batches())
        self.count = 0

    def get_next(self) -> dict[str, Any] | None:
        batch = next(self._iterator, None)
        if batch is None:
            return None
        self.count += 1
        # Calibration files name inputs like the source model; the graph may rename them.
        return dict(zip(self.input_names, batch.values(), strict=True))

    def rewind(self) -> None:
        self._iterator = iter(self.provider.batches())


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
            f"ONNX Runtime cannot optimize {src.name!r}: {str(exc).splitlines()[0]}",
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

    def is_available(self) -> tuple[bool, str]:
        if not has_package("onnxruntime"):
            return False, "onnxruntime not importable: pip install onnxruntime"
        return True, "available (CPUExecutionProvider)"

    def get_capabilities(self) -> TargetCapabilities:
        return TargetCapabilities(
            precisions=[
                DeploymentPrecision.FP32,
                DeploymentPrecision.FP16,
                DeploymentPrecision.INT8,
            ],
            int8_modes=["static", "dynamic"],
            formats=["onnx"],
            devices=["cpu"],
            input_frameworks=["onnx"],
            requires=["onnxruntime"],
            verified="fp32/fp16/int8 static+dynamic built and validated on x86-64 CPU hosts "
            "(tests/agents/deployment/test_onnxruntime_target.py)",
        )

    def deploy(
        self,
        model: OnnxModelHandle,
        precision: DeploymentPrecision,
        ctx: DeployContext,
        *,
        calibration: CalibrationProvider | None = None,
        int8_mode: Literal["static", "dynamic"] = "static",
        source: ModelHandle | None = None,
    ) -> DeploymentArtifact:
        del source  # builds from the ONNX graph only
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        work = ctx.out_dir / "work"
        work.mkdir(exist_ok=True)
        artifact_path = ctx.out_dir / f"{model.name}_{precision.value}.onnx"
        details: dict[str, str | int | float | bool | None] = {
            "graph_optimization_level": OPTIMIZATION_LEVEL
        }
        if precision is DeploymentPrecision.FP32:
            unoptimized = model.onnx_path
        elif precision is DeploymentPrecision.FP16:
            unoptimized = self._to_fp16(model.onnx_path, work / "fp16.onnx")
            details["keep_io_types"] = True
        else:
            preprocessed = self._preprocess(model.onnx_path, work / "preprocessed.onnx")
            if int8_mode == "static":
                if calibration is None:
                    raise InputError(
                        "static INT8 on onnxruntime needs calibration data",
                        hint="pass --calibration-data DIR (images or .npy/.npz), or use "
                        "--int8-mode dynamic",
                    )
                reduce_range = needs_reduce_range()
                ctx.emit(20, f"calibrating INT8 (reduce_range={reduce_range})")
                count = self._quantize_static(
                    model, preprocessed, work / "int8.onnx", calibration, reduce_range
                )
                details.update(
                    quant_format="QDQ",
                    per_channel=True,
                    reduce_range=reduce_range,
                    activation_type="uint8",
                    weight_type="int8",
                    calibration_method="minmax",
                    calibration_batches=count,
                )
                ctx.log(f"static INT8: {count} calibration batches, reduce_range={reduce_range}")
            else:
                reduce_range = dynamic_reduce_range(None)
                self._quantize_dynamic(preprocessed, work / "int8.onnx", reduce_range)
                details.update(
                    quant_format="dynamic", weight_type="int8", reduce_range=reduce_range
                )
            unoptimized = work / "int8.onnx"
        ctx.emit(80, "applying ONNX Runtime graph optimizations")
        optimize_offline(unoptimized, artifact_path, threads=ctx.threads)
        ctx.log(f"wrote {artifact_path.name} ({OPTIMIZATION_LEVEL} graph optimizations applied)")
        return DeploymentArtifact(
            path=artifact_path,
            target=self.name,
            precision=precision,
            format="onnx",
            size_bytes=file_size(artifact_path),
            input_shapes=shapes_of(model.inputs),
            output_shapes=shapes_of(model.outputs),
            runtime="onnxruntime",
            runtime_version=_ort_version(),
            details=details,
        )

    def load_artifact(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        from embodied_ai_architect.modelio.onnx_io import load_onnx

        # An ORT-optimized graph: the ORT session, not the ONNX checker, validates it.
        return load_onnx(artifact.path, input_shapes=None, threads=threads, check=False)

    @staticmethod
    def _to_fp16(src: Path, dst: Path) -> Path:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        try:
            # keep_io_types: callers keep feeding float32 and reading float32.
            converted = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
        except Exception as exc:  # the converter raises plain Exceptions
            raise DeploymentError(
                f"FP16 conversion failed: {exc}", hint="try --precision fp32 or int8"
            ) from exc
        onnx.save(converted, str(dst))
        return dst

    @staticmethod
    def _preprocess(src: Path, dst: Path) -> Path:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        try:
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        except Exception as exc:  # shape inference raises many types
            raise DeploymentError(
                f"quantization pre-processing failed: {str(exc).splitlines()[0]}",
                hint="the graph may have shapes ONNX shape inference cannot resolve; pass "
                "--input-shape with concrete sizes",
            ) from exc
        return dst

    @staticmethod
    def _quantize_static(
        model: OnnxModelHandle,
        src: Path,
        dst: Path,
        calibration: CalibrationProvider,
        reduce_range: bool,
    ) -> int:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

        reader = _ProviderReader(calibration, [spec.name for spec in model.inputs])
        try:
            quantize_static(
                str(src),
                str(dst),
                reader,  # type: ignore[arg-type]  # duck-typed CalibrationDataReader
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        except (InputError, ConfigError):
            raise  # unreadable calibration images etc. are user errors, not build failures
        except Exception as exc:  # ORT's quantizer raises many types
            raise DeploymentError(
                f"static INT8 quantization failed: {str(exc).splitlines()[0]}",
                hint="check that calibration samples match the model input shape",
            ) from exc
        if reader.count == 0:
            raise InputError("the calibration data yielded no samples", hint="add samples")
        return reader.count

    @staticmethod
    def _quantize_dynamic(src: Path, dst: Path, reduce_range: bool) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        try:
            quantize_dynamic(
                str(src), str(dst), weight_type=QuantType.QInt8, reduce_range=reduce_range
            )
        except Exception as exc:  # ORT's quantizer raises many types
            raise DeploymentError(
                f"dynamic INT8 quantization failed: {str(exc).splitlines()[0]}",
                hint="try --int8-mode static with calibration data",
            ) from exc
