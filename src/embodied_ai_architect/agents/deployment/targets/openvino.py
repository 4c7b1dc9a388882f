"""OpenVINO target: ONNX → IR (.xml + .bin), FP32, FP16-compressed weights, or INT8 via NNCF PTQ.

Reading and running IR goes through :mod:`embodied_ai_architect.modelio.openvino_io`.
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
from embodied_ai_architect.errors import DeploymentError, InputError
from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle
from embodied_ai_architect.utils.deps import has_package, require_package

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle


@register_target("openvino")
class OpenVinoTarget(DeploymentTarget):
    """Intel CPUs / iGPUs / NPUs through OpenVINO IR."""

    description = "OpenVINO IR for Intel CPU / GPU / NPU (.xml + .bin)"

    def is_available(self) -> tuple[bool, str]:
        missing = [m for m in ("openvino", "nncf") if not has_package(m)]
        if missing:
            return False, (
                f"{', '.join(missing)} not importable: install the `openvino` extra "
                "(pip install 'embodied-ai-architect[openvino]')"
            )
        from embodied_ai_architect.modelio.openvino_io import openvino_core

        devices = list(openvino_core().available_devices)
        if "CPU" not in devices:
            return False, f"OpenVINO sees no CPU device (devices: {devices})"
        return True, f"available (devices: {', '.join(devices)})"

    def get_capabilities(self) -> TargetCapabilities:
        return TargetCapabilities(
            precisions=[
                DeploymentPrecision.FP32,
                DeploymentPrecision.FP16,
                DeploymentPrecision.INT8,
            ],
            int8_modes=["static"],
            formats=["openvino_ir"],
            devices=["cpu", "gpu", "npu"],
            input_frameworks=["onnx"],
            requires=["openvino", "nncf"],
            extra="openvino",
            verified="fp32/fp16/int8 (NNCF PTQ) built and validated on the CPU plugin of "
            "x86-64 hosts (tests/agents/deployment/test_openvino_target.py); fp16 stores FP16 "
            "weights, CPUs without FP16 units compute in FP32",
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
        del source, int8_mode
        ov = require_package("openvino", extra="openvino", purpose="the openvino target")
        from embodied_ai_architect.modelio.openvino_io import save_openvino

        ctx.emit(10, "converting ONNX to OpenVINO")
        try:
            ov_model = ov.convert_model(str(model.onnx_path))
        except Exception as exc:  # the frontend raises OpConversionFailure, RuntimeError, ...
            raise DeploymentError(
                f"OpenVINO cannot convert {model.onnx_path.name!r}: {str(exc).splitlines()[0]}",
                hint="the graph uses an op OpenVINO's ONNX frontend lacks; try another opset",
            ) from exc
        # Pin the batch-1 shape the rest of the pipeline uses (OpenVINO compiles faster static).
        ov_model.reshape({spec.name: list(spec.concrete_shape(1)) for spec in model.inputs})
        details: dict[str, str | int | float | bool | None] = {}
        if precision is DeploymentPrecision.INT8:
            if calibration is None:
                raise InputError(
                    "INT8 on openvino needs calibration data",
                    hint="pass --calibration-data DIR (images or .npy/.npz)",
                )
            ctx.emit(30, "calibrating INT8 with NNCF")
            ov_model, count = _quantize(ov_model, model, calibration)
            details.update(
                quantizer="nncf.quantize", calibration_samples=count, preset="performance"
            )
        xml_path = ctx.out_dir / f"{model.name}_{precision.value}.xml"
        save_openvino(ov_model, xml_path, compress_to_fp16=precision is DeploymentPrecision.FP16)
        details["compress_to_fp16"] = precision is DeploymentPrecision.FP16
        details["inference_precision"] = inference_precision(precision)
        ctx.log(f"wrote {xml_path.name} (+ .bin)")
        bin_path = xml_path.with_suffix(".bin")
        return DeploymentArtifact(
            path=xml_path,
            extra_files=[bin_path],
            target=self.name,
            precision=precision,
            format="openvino_ir",
            size_bytes=file_size(xml_path, bin_path),
            input_shapes=shapes_of(model.inputs),
            output_shapes=shapes_of(model.outputs),
            runtime="openvino",
            runtime_version=str(ov.get_version()),
            details=details,
        )

    def load_artifact(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        from embodied_ai_architect.modelio.openvino_io import load_openvino

        read = load_openvino(artifact.path, threads=threads)
        precision = str(artifact.details.get("inference_precision") or "f32")
        return PinnedPrecisionHandle(
            artifact.path,
            inference_precision=precision,
            threads=threads,
            name=read.name,
            source_format=read.source_format,
            inputs=read.inputs,
            outputs=read.outputs,
        )


def inference_precision(precision: DeploymentPrecision) -> str:
    """The INFERENCE_PRECISION_HINT an artifact must be compiled with.

    OpenVINO's CPU plugin runs FP32 IR in BF16 on CPUs with AVX512-BF16 / AMX unless told
    otherwise, which would silently change what "fp32" means; FP16 runs in f16 only where the
    CPU has FP16 units. INT8 layers run in INT8 whatever the hint; the rest stays f32.
    """
    if precision is DeploymentPrecision.FP16:
        from embodied_ai_architect.modelio.openvino_io import openvino_core

        capabilities = openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        return "f16" if "FP16" in capabilities else "f32"
    return "f32"


class PinnedPrecisionHandle(OpenVinoModelHandle):
    """An OpenVINO IR handle compiled with an explicit inference precision (see above)."""

    def __init__(self, xml_path: Path, *, inference_precision: str, **kwargs: Any):
        super().__init__(xml_path, **kwargs)
        self.inference_precision = inference_precision

    def compiled_model(self) -> Any:
        if self._compiled is None:
            from embodied_ai_architect.modelio.openvino_io import openvino_core

            config: dict[str, Any] = {
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": self.inference_precision,
            }
            if self.threads:
                config["INFERENCE_NUM_THREADS"] = int(self.threads)
            try:
                self._compiled = openvino_core().compile_model(
                    str(self.xml_path), self.device, config
                )
            except RuntimeError as exc:
                raise DeploymentError(
                    f"OpenVINO cannot compile {self.xml_path.name!r} with "
                    f"{self.inference_precision} precision: {str(exc).splitlines()[0]}",
                    hint="this device lacks that precision; deploy at fp32 instead",
                ) from exc
            self._request = self._compiled.create_infer_request()
        return self._compiled


def _quantize(
    ov_model: Any, model: OnnxModelHandle, calibration: CalibrationProvider
) -> tuple[Any, int]:
    nncf = require_package("nncf", extra="openvino", purpose="OpenVINO INT8 calibration")
    names = [spec.name for spec in model.inputs]
    # Materialise the samples: NNCF iterates the dataset more than once (statistics passes).
    samples = [dict(zip(names, feeds.values(), strict=True)) for feeds in calibration.samples()]
    if not samples:
        raise InputError("the calibration data yielded no samples", hint="add samples")
    try:
        quantized = nncf.quantize(ov_model, nncf.Dataset(samples), subset_size=len(samples))
    except (InputError, DeploymentError):
        raise
    except Exception as exc:  # NNCF raises many types
        raise DeploymentError(
            f"NNCF INT8 quantization failed: {str(exc).splitlines()[0]}",
            hint="check the calibration data matches the model input",
        ) from exc
    return quantized, len(samples)
