"""``.tflite`` flatbuffers, run with the LiteRT (ai_edge_litert) interpreter (extra ``tflite``).

Only the conversion to ONNX (``to_onnx``, via tf2onnx) needs TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.errors import ModelFormatError, first_line
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import Feeds, Framework, ModelHandle
from embodied_ai_architect.modelio.tf_common import (
    SERVING_SIGNATURE,
    convert_to_onnx,
    dims,
    tf2onnx,
    with_shapes,
)
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.utils.deps import require_package

if TYPE_CHECKING:
    from embodied_ai_architect.modelio.handle import OnnxModelHandle


class TFLiteModelHandle(ModelHandle):
    """A ``.tflite`` flatbuffer run with the LiteRT (ai_edge_litert) interpreter."""

    framework = Framework.TFLITE

    def __init__(
        self,
        tflite_path: Path,
        *,
        tensor_names: dict[str, str],
        interpreter: Any = None,
        **kwargs: Any,
    ):
        kwargs.setdefault("path", tflite_path)
        super().__init__(**kwargs)
        self.tflite_path = Path(tflite_path)
        self.tensor_names = tensor_names  # signature input name -> graph tensor name
        self._interpreter: Any = interpreter

    def interpreter(self) -> Any:
        if self._interpreter is None:
            self._interpreter = tflite_interpreter(self.tflite_path)
        return self._interpreter

    def run(self, feeds: Feeds) -> Feeds:
        self.check_feeds(feeds)
        interpreter = self.interpreter()
        details = {d["name"]: d for d in interpreter.get_input_details()}
        resized = False
        for spec in self.inputs:
            detail = details[self.tensor_names[spec.name]]
            shape = tuple(np.shape(feeds[spec.name]))
            if tuple(detail["shape"]) != shape:
                interpreter.resize_tensor_input(detail["index"], list(shape))
                resized = True
        if resized:
            interpreter.allocate_tensors()
            details = {d["name"]: d for d in interpreter.get_input_details()}
        for spec in self.inputs:
            detail = details[self.tensor_names[spec.name]]
            interpreter.set_tensor(detail["index"], np.asarray(feeds[spec.name], detail["dtype"]))
        interpreter.invoke()
        return {
            d["name"]: np.array(interpreter.get_tensor(d["index"]))
            for d in interpreter.get_output_details()
        }

    def to_onnx(self, out_path: Path, *, opset: int = 18) -> OnnxModelHandle:
        """Convert with tf2onnx.convert.from_tflite, checked numerically against the interpreter."""
        converter = tf2onnx()

        def convert(output_path: str) -> None:
            converter.convert.from_tflite(
                str(self.tflite_path), opset=opset, output_path=output_path
            )

        return convert_to_onnx(
            self,
            out_path,
            opset,
            convert,
            hint="quantized or custom TFLite ops may have no ONNX mapping; convert the float "
            "model (SavedModel / Keras) instead",
        )


def tflite_interpreter(path: Path) -> Any:
    litert = require_package(
        "ai_edge_litert.interpreter", extra="tflite", purpose="running .tflite models"
    )
    try:
        interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelFormatError(
            f"{path.name!r} is not a loadable TFLite model: {first_line(exc)}",
            hint="the file may be truncated or use custom ops; convert the model again",
        ) from exc
    return interpreter


def load_tflite(path: Path, options: LoadOptions) -> TFLiteModelHandle:
    interpreter = tflite_interpreter(path)
    input_details = interpreter.get_input_details()
    output_details = interpreter.get_output_details()
    signatures = interpreter.get_signature_list()
    tensor_names: dict[str, str] = {}
    if SERVING_SIGNATURE in signatures:
        # Prefer the signature's clean names ("obs") over graph names ("serving_default_obs:0").
        runner = interpreter.get_signature_runner(SERVING_SIGNATURE)
        for name, detail in runner.get_input_details().items():
            tensor_names[name] = detail["name"]
    graph_to_signature = {v: k for k, v in tensor_names.items()}

    def spec(detail: dict[str, Any], name: str) -> TensorSpec:
        signature = detail.get("shape_signature")
        shape = signature if signature is not None and len(signature) else detail["shape"]
        return TensorSpec(
            name=name, shape=dims([int(d) for d in shape]), dtype=np.dtype(detail["dtype"]).name
        )

    inputs = []
    for detail in input_details:
        name = graph_to_signature.get(detail["name"], detail["name"])
        tensor_names.setdefault(name, detail["name"])
        inputs.append(spec(detail, name))
    outputs = [spec(detail, detail["name"]) for detail in output_details]
    quantized = any(d["quantization"][0] for d in [*input_details, *output_details])
    return TFLiteModelHandle(
        path,
        tensor_names=tensor_names,
        interpreter=interpreter,
        name=path.stem,
        source_format=ModelFormat.TFLITE,
        inputs=with_shapes(inputs, options),
        outputs=outputs,
        metadata={"quantized_io": bool(quantized), "signatures": sorted(signatures)},
    )
