"""TFLite target: .tflite flatbuffers run with LiteRT (ai_edge_litert, XNNPACK on CPU).

Conversion needs the source framework, not ONNX (no ONNX→TFLite converter is installed):

* TensorFlow SavedModel / Keras → ``tf.lite.TFLiteConverter`` (``tf`` extra): FP32, FP16 weights,
  dynamic-range INT8, or full INT8 with a representative dataset drawn from the calibration data
  (float inputs/outputs kept, so callers feed the same arrays as before);
* PyTorch → ``litert_torch`` (optional, ~0.9 GB with JAX): FP32 only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

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
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import Feeds, Framework, ModelHandle
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.utils.deps import has_package, require_package

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

_TF_FORMATS = {ModelFormat.TF_SAVEDMODEL, ModelFormat.KERAS, ModelFormat.KERAS_H5}


class LiteRtHandle(ModelHandle):
    """A .tflite model run by the LiteRT interpreter with a fixed thread count."""

    framework = Framework.TFLITE

    def __init__(self, tflite_path: Path, *, threads: int | None = None, name: str | None = None):
        interpreter_module = require_package(
            "ai_edge_litert.interpreter", extra="tflite", purpose="running .tflite models"
        )
        try:
            self.interpreter = interpreter_module.Interpreter(
                model_path=str(tflite_path), num_threads=threads or 1
            )
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise DeploymentError(
                f"LiteRT cannot load {tflite_path.name!r}: {str(exc).splitlines()[0]}",
                hint="the model may use ops the LiteRT build lacks (select TF ops)",
            ) from exc
        self._inputs = self.interpreter.get_input_details()
        self._outputs = self.interpreter.get_output_details()
        super().__init__(
            name=name or tflite_path.stem,
            source_format=ModelFormat.TFLITE,
            path=tflite_path,
            inputs=[_spec(d) for d in self._inputs],
            outputs=[_spec(d) for d in self._outputs],
        )

    def run(self, feeds: Feeds) -> Feeds:
        self.check_feeds(feeds)
        for detail in self._inputs:
            self.interpreter.set_tensor(
                detail["index"], np.ascontiguousarray(feeds[detail["name"]], dtype=detail["dtype"])
            )
        self.interpreter.invoke()
        return {d["name"]: np.array(self.interpreter.get_tensor(d["index"])) for d in self._outputs}


def _spec(detail: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name=str(detail["name"]),
        shape=[int(d) for d in detail["shape"]],
        dtype=np.dtype(detail["dtype"]).name,
    )


@register_target("tflite")
class TfliteTarget(DeploymentTarget):
    """LiteRT (TFLite) for ARM boards, phones and microcontroller-class CPUs."""

    description = "LiteRT / TFLite flatbuffers (ARM CPUs, phones, Coral-style boards)"

    def is_available(self) -> tuple[bool, str]:
        if not has_package("ai_edge_litert"):
            return False, (
                "ai_edge_litert not importable: install the `tflite` extra "
                "(pip install 'embodied-ai-architect[tflite]')"
            )
        converters = [
            name
            for name, module in (("tensorflow", "tensorflow"), ("litert-torch", "litert_torch"))
            if has_package(module)
        ]
        if not converters:
            return False, (
                "LiteRT runs here but no converter is installed: install the `tf` extra "
                "(TensorFlow/Keras sources) or litert-torch (PyTorch sources)"
            )
        return True, f"available (converters: {', '.join(converters)})"

    def get_capabilities(self) -> TargetCapabilities:
        return TargetCapabilities(
            precisions=[
                DeploymentPrecision.FP32,
                DeploymentPrecision.FP16,
                DeploymentPrecision.INT8,
            ],
            int8_modes=["static", "dynamic"],
            formats=["tflite"],
            devices=["cpu"],
            input_frameworks=["tensorflow", "keras", "torch (litert-torch, fp32)"],
            requires=["ai_edge_litert", "tensorflow or litert_torch"],
            extra="tflite",
            verified="Keras → fp32 / fp16 / dynamic and full INT8 built and run with LiteRT on "
            "x86-64 (tests/agents/deployment/test_tflite_target.py, marked tf); the PyTorch path "
            "(litert-torch) has not been run here",
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
        if source is None or source.path is None:
            raise ConfigError(
                "the tflite target converts from the source model, which was not given",
                hint="deploy the original TensorFlow/Keras or PyTorch model file",
            )
        out = ctx.out_dir / f"{model.name}_{precision.value}.tflite"
        ctx.emit(10, f"converting to TFLite ({precision.value})")
        details: dict[str, str | int | float | bool | None] = {}
        if source.framework is Framework.TORCH:
            version = self._from_torch(source, precision, out)
            details["converter"] = "litert_torch"
        elif source.source_format in _TF_FORMATS:
            version = self._from_tensorflow(source, precision, int8_mode, calibration, out, details)
            details["converter"] = "tf.lite.TFLiteConverter"
        else:
            raise ConfigError(
                f"the tflite target cannot convert a {source.source_format.value} model",
                hint="pass the TensorFlow SavedModel / Keras file or the PyTorch model; "
                "ONNX → TFLite needs onnx2tf, which is not supported",
            )
        ctx.log(f"wrote {out.name}")
        return DeploymentArtifact(
            path=out,
            target=self.name,
            precision=precision,
            format="tflite",
            size_bytes=file_size(out),
            input_shapes=shapes_of(model.inputs),
            output_shapes=shapes_of(model.outputs),
            runtime="litert",
            runtime_version=version,
            details=details,
        )

    def load_artifact(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        return LiteRtHandle(artifact.path, threads=threads)

    @staticmethod
    def _from_torch(source: ModelHandle, precision: DeploymentPrecision, out: Path) -> str:
        litert_torch = require_package(
            "litert_torch",
            extra="tflite",
            purpose="PyTorch → TFLite conversion (pip install litert-torch)",
        )
        if precision is not DeploymentPrecision.FP32:
            raise ConfigError(
                "PyTorch → TFLite supports fp32 only here",
                hint="use --target onnxruntime or openvino for reduced precision, or convert "
                "from TensorFlow",
            )
        from embodied_ai_architect.modelio.handle import TorchModelHandle

        assert isinstance(source, TorchModelHandle)
        try:
            edge_model = litert_torch.convert(source.module.eval(), source.example_tensors())
            edge_model.export(str(out))
        except Exception as exc:  # the converter raises many types
            raise DeploymentError(
                f"litert-torch conversion failed: {str(exc).splitlines()[0]}",
                hint="the model may use ops without a TFLite lowering",
            ) from exc
        return str(getattr(litert_torch, "__version__", "unknown"))

    @staticmethod
    def _from_tensorflow(
        source: ModelHandle,
        precision: DeploymentPrecision,
        int8_mode: Literal["static", "dynamic"],
        calibration: CalibrationProvider | None,
        out: Path,
        details: dict[str, str | int | float | bool | None],
    ) -> str:
        tf = require_package("tensorflow", extra="tf", purpose="TensorFlow → TFLite conversion")
        assert source.path is not None
        if source.source_format is ModelFormat.TF_SAVEDMODEL:
            converter = tf.lite.TFLiteConverter.from_saved_model(str(source.path))
        else:
            keras_model = tf.keras.models.load_model(str(source.path), compile=False)
            converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        if precision is DeploymentPrecision.FP16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
            details["weights"] = "float16"
        elif precision is DeploymentPrecision.INT8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if int8_mode == "dynamic":
                details["quantization"] = "dynamic-range (int8 weights, float activations)"
            else:
                if calibration is None:
                    raise InputError(
                        "full INT8 TFLite needs calibration data",
                        hint="pass --calibration-data DIR, or --int8-mode dynamic",
                    )
                converter.representative_dataset = _representative(calibration)
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                details["quantization"] = "full int8 (float32 inputs/outputs)"
                details["calibration_samples"] = calibration.num_samples
        try:
            out.write_bytes(converter.convert())
        except Exception as exc:  # the converter raises ConverterError and others
            raise DeploymentError(
                f"TFLite conversion failed: {str(exc).splitlines()[0]}",
                hint="the model may use ops without a TFLite builtin; try --precision fp32",
            ) from exc
        return str(tf.__version__)


def _representative(calibration: CalibrationProvider) -> Any:
    def dataset() -> Iterator[list[np.ndarray]]:
        for feeds in calibration.samples():
            yield [np.asarray(array, dtype=np.float32) for array in feeds.values()]

    return dataset
