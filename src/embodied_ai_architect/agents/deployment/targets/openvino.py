"""OpenVINO target: IR (.xml + .bin), FP32, FP16-compressed weights, or INT8 via NNCF PTQ.

The conversions are the registered ``openvino_ir`` / ``openvino_int8`` techniques; this target
packages their IR and loads it with an explicit inference precision.

Reading and running IR goes through :mod:`embodied_ai_architect.modelio.openvino_io`.
"""

from __future__ import annotations

import shutil
from typing import ClassVar

from embodied_ai_architect.agents.deployment.targets.base import (
    Conversion,
    DeployContext,
    DeploymentTarget,
    register_target,
)
from embodied_ai_architect.modelio.handle import Framework, ModelHandle
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS, declared_threads
from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle
from embodied_ai_architect.schemas.deployment import DeploymentArtifact, DeploymentPrecision
from embodied_ai_architect.utils.deps import require_package


@register_target("openvino")
class OpenVinoTarget(DeploymentTarget):
    """Intel CPUs / iGPUs / NPUs through OpenVINO IR."""

    description = "OpenVINO IR for Intel CPU / GPU / NPU (.xml + .bin)"
    runtime = "openvino"
    frameworks = frozenset({Framework.OPENVINO})
    requires = ("openvino", "nncf")
    extra = "openvino"

    def probe(self) -> tuple[bool, str]:
        from embodied_ai_architect.modelio.openvino_io import openvino_core

        devices = list(openvino_core().available_devices)
        if "CPU" not in devices:
            return False, f"OpenVINO sees no CPU device (devices: {devices})"
        return True, f"available (devices: {', '.join(devices)})"

    artifact_suffix = ".xml"
    packages = "OpenVINO IR"
    convert_hint = "convert the model with the openvino_ir or openvino_int8 technique"
    artifact_format = "openvino_ir"
    devices = ("cpu", "gpu", "npu")
    verified = (
        "fp32/fp16/int8 (NNCF PTQ) built and validated on the CPU plugin of x86-64 hosts "
        "(tests/agents/deployment/test_openvino_target.py); fp16 stores FP16 weights, CPUs "
        "without FP16 units compute in FP32; bf16 (FP32 weights, BF16 compute) only on CPUs "
        "with AMX-BF16 / AVX512-BF16 (validated on a 2-vCPU AMX Xeon)"
    )
    conversions: ClassVar[dict[tuple[DeploymentPrecision, str], Conversion]] = {
        (DeploymentPrecision.FP32, "static"): Conversion("openvino_ir"),
        (DeploymentPrecision.FP16, "static"): Conversion("openvino_ir", {"compress_to_fp16": True}),
        (DeploymentPrecision.INT8, "static"): Conversion("openvino_int8"),
        (DeploymentPrecision.BF16, "static"): Conversion("openvino_bf16"),
    }

    def package(
        self, handle: ModelHandle, precision: DeploymentPrecision, ctx: DeployContext
    ) -> DeploymentArtifact:
        ov = require_package("openvino", extra="openvino", purpose="the openvino target")
        xml_path = self.package_path(handle, precision, ctx)
        assert isinstance(handle, OpenVinoModelHandle)  # the only handle of framework OPENVINO
        bin_path = xml_path.with_suffix(".bin")
        shutil.copyfile(handle.xml_path, xml_path)
        shutil.copyfile(handle.xml_path.with_suffix(".bin"), bin_path)
        ctx.log(f"wrote {xml_path.name} (+ .bin)")
        details: dict[str, str | int | float | bool | None] = {
            "compress_to_fp16": precision is DeploymentPrecision.FP16,
            # The precision the version was measured in (an IR may record its own, e.g.
            # openvino_bf16's), else the one the deployment precision implies.
            "inference_precision": handle.inference_precision or inference_precision(precision),
        }
        if (declared := declared_threads(handle)) is not None:
            # The thread count the IR records (openvino_threads): it loads with it anyway.
            details[DECLARED_THREADS] = declared
        return self.artifact(
            handle,
            xml_path,
            precision,
            runtime_version=str(ov.get_version()),
            extra_files=[bin_path],
            details=details,
        )

    def load(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        from embodied_ai_architect.modelio.openvino_io import load_openvino

        # Compiled in the precision it was packaged and validated at (see inference_precision).
        precision = str(artifact.details.get("inference_precision") or "f32")
        return load_openvino(artifact.path, threads=threads, inference_precision=precision)


def inference_precision(precision: DeploymentPrecision) -> str:
    """The INFERENCE_PRECISION_HINT an artifact must be compiled with.

    OpenVINO's CPU plugin runs FP32 IR in BF16 on CPUs with AVX512-BF16 / AMX unless told
    otherwise, which would silently change what "fp32" means; FP16 runs in f16 only where the
    CPU has FP16 units. INT8 layers run in INT8 whatever the hint; the rest stays f32.
    """
    from embodied_ai_architect.modelio.openvino_io import compute_precision

    if precision is DeploymentPrecision.BF16:
        return "bf16"
    return compute_precision(precision is DeploymentPrecision.FP16)
