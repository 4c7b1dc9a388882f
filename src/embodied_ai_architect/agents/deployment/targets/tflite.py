"""TFLite target: .tflite flatbuffers run with LiteRT (ai_edge_litert, XNNPACK on CPU).

The conversions are the registered ``tflite_convert`` / ``tflite_int8`` (TensorFlow / Keras
sources, ``tf`` extra) and ``tflite_from_torch`` (litert-torch) techniques. A model that is
already a ``.tflite`` file is packaged at FP32 as it is: that needs LiteRT only, not TensorFlow.
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
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle
from embodied_ai_architect.schemas.deployment import DeploymentArtifact, DeploymentPrecision


def _litert_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return "unknown"


@register_target("tflite")
class TfliteTarget(DeploymentTarget):
    """LiteRT (TFLite) for ARM boards, phones and microcontroller-class CPUs."""

    description = "LiteRT / TFLite flatbuffers (ARM CPUs, phones, Coral-style boards)"
    runtime = "litert"
    frameworks = frozenset({Framework.TFLITE})
    requires = ("ai_edge_litert",)
    extra = "tflite"

    artifact_suffix = ".tflite"
    packages = ".tflite models"
    convert_hint = "convert the model with tflite_convert (TensorFlow / Keras) first"
    artifact_format = "tflite"
    input_frameworks = ("tflite", "tensorflow", "keras", "torch (litert-torch, fp32)")
    verified = (
        "a .tflite source packaged at fp32 and run with LiteRT on x86-64 (no TensorFlow "
        "needed); Keras → fp32 / fp16 / dynamic and full INT8 built and run "
        "(tests/agents/deployment/test_tflite_target.py, marked tf); the PyTorch path "
        "(litert-torch) has not been run here"
    )
    conversions: ClassVar[dict[tuple[DeploymentPrecision, str], Conversion]] = {
        (DeploymentPrecision.FP32, "static"): Conversion("tflite_convert", {"precision": "fp32"}),
        (DeploymentPrecision.FP16, "static"): Conversion("tflite_convert", {"precision": "fp16"}),
        (DeploymentPrecision.INT8, "dynamic"): Conversion(
            "tflite_convert", {"precision": "int8_dynamic"}
        ),
        (DeploymentPrecision.INT8, "static"): Conversion("tflite_int8"),
    }

    def source_conversion(
        self, precision: DeploymentPrecision, framework: Framework
    ) -> Conversion | None:
        if framework is Framework.TORCH:
            if precision is not DeploymentPrecision.FP32:
                raise ConfigError(
                    "PyTorch → TFLite supports fp32 only here",
                    hint="use `target` onnxruntime or openvino for reduced precision, or "
                    "convert from TensorFlow",
                    field="target",
                )
            return Conversion("tflite_from_torch")
        if framework is Framework.TFLITE and precision is DeploymentPrecision.FP32:
            return Conversion(None)
        if framework is not Framework.TENSORFLOW:
            raise ConfigError(
                f"the tflite target cannot convert a {framework.value} model"
                + (" to " + precision.value if framework is Framework.TFLITE else ""),
                hint="pass the TensorFlow SavedModel / Keras file or the PyTorch model; "
                "ONNX → TFLite needs onnx2tf, which is not supported",
            )
        return None  # TensorFlow / Keras: the declared table

    def package(
        self, handle: ModelHandle, precision: DeploymentPrecision, ctx: DeployContext
    ) -> DeploymentArtifact:
        out = self.package_path(handle, precision, ctx)
        from embodied_ai_architect.modelio.tflite_io import TFLiteModelHandle

        assert isinstance(handle, TFLiteModelHandle)  # the only handle of framework TFLITE
        shutil.copyfile(handle.tflite_path, out)
        ctx.log(f"wrote {out.name}")
        return self.artifact(handle, out, precision, runtime_version=_litert_version())

    def load(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        from embodied_ai_architect.modelio.loader import load_model

        return load_model(artifact.path, threads=threads)
