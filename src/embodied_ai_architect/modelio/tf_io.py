"""TensorFlow models: SavedModel directories, Keras ``.keras`` / ``.h5`` and ``.tflite`` files.

TensorFlow, Keras, tf2onnx and ai_edge_litert are imported inside functions (extra ``tf``), so
nothing here costs anything until a TF model is actually loaded. Each handle runs numpy feeds
(the SavedModel's serving signature, the Keras model, or the LiteRT interpreter) and converts
itself to ONNX with tf2onnx (``to_onnx``), checked numerically against itself — that is how
analysis, optimization and deployment reach non-torch models.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.errors import DependencyError, ExportError, ModelFormatError
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import Feeds, Framework, ModelHandle
from embodied_ai_architect.modelio.options import LoadOptions
from embodied_ai_architect.schemas.tensors import Dim, TensorSpec
from embodied_ai_architect.utils.deps import require_package

if TYPE_CHECKING:
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

SERVING_SIGNATURE = "serving_default"


def load_tf(path: Path, fmt: ModelFormat, options: LoadOptions) -> ModelHandle:
    """Load a TF SavedModel, Keras (.keras / .h5) or TFLite model into a handle."""
    if fmt is ModelFormat.TFLITE:
        return _load_tflite(path, options)
    if fmt is ModelFormat.TF_SAVEDMODEL:
        return _load_saved_model(path, options)
    if fmt in (ModelFormat.KERAS, ModelFormat.KERAS_H5):
        return _load_keras(path, fmt, options)
    raise ModelFormatError(f"{fmt} is not a TensorFlow format", hint="report this as a bug")


def _tensorflow() -> Any:
    # Quiet TF's C++ start-up logging; it is noise on every CLI call.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return require_package("tensorflow", extra="tf", purpose="TensorFlow / Keras models")


def _dims(shape: Any) -> list[Dim]:
    dims: list[Dim] = []
    for index, dim in enumerate(list(shape)):
        value = dim if isinstance(dim, int | np.integer) else getattr(dim, "value", dim)
        if value is None or int(value) < 0:
            dims.append("batch" if index == 0 else f"dim{index}")
        else:
            dims.append(int(value))
    return dims


def _numpy_dtype(dtype: Any) -> str:
    name = getattr(dtype, "name", None) or np.dtype(dtype).name
    return str(name)


def _with_shapes(specs: list[TensorSpec], options: LoadOptions) -> list[TensorSpec]:
    from embodied_ai_architect.modelio.onnx_io import apply_shapes

    return apply_shapes(specs, options.input_shapes)


class TensorFlowModelHandle(ModelHandle):
    """A SavedModel serving signature or a Keras model, run eagerly on CPU."""

    framework = Framework.TENSORFLOW

    def __init__(self, model: Any, *, kind: str, owner: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.model = model  # a keras.Model or a SavedModel's concrete serving function
        self.kind = kind  # "saved_model" or "keras"
        # The loaded SavedModel object: its serving function only holds weak references to
        # the variables, so the owner must stay alive as long as the handle.
        self.owner = owner

    def run(self, feeds: Feeds) -> Feeds:
        tf = _tensorflow()
        self.check_feeds(feeds)
        tensors = {
            s.name: tf.constant(np.asarray(feeds[s.name], dtype=s.dtype)) for s in self.inputs
        }
        if self.kind == "saved_model":
            result = self.model(**tensors)
        else:
            ordered = [tensors[s.name] for s in self.inputs]
            result = self.model(ordered if len(ordered) > 1 else ordered[0], training=False)
        return _named_outputs(result, [s.name for s in self.outputs])

    def to_onnx(self, out_path: Path, *, opset: int = 18) -> OnnxModelHandle:
        """Convert with tf2onnx (from_keras / the SavedModel's frozen graph), checked numerically."""
        tf2onnx = _tf2onnx()
        tf = _tensorflow()
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.kind == "keras":
                    signature = [
                        tf.TensorSpec(_tf_shape(s.shape), s.dtype, name=s.name) for s in self.inputs
                    ]
                    tf2onnx.convert.from_keras(
                        self.model,
                        input_signature=signature,
                        opset=opset,
                        output_path=str(out_path),
                    )
                else:
                    _saved_model_to_onnx(tf2onnx, self.metadata["saved_model_dir"], out_path, opset)
        except ExportError:
            raise
        except Exception as exc:  # tf2onnx raises many unrelated types
            raise ExportError(
                f"tf2onnx could not convert {self.name!r}: {str(exc).splitlines()[0][:300]}",
                hint="the model may use ops tf2onnx does not map; try another --opset, or convert "
                "it yourself (python -m tf2onnx.convert) and pass the .onnx file",
            ) from exc
        return _checked_onnx(self, out_path, opset)


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
            self._interpreter = _tflite_interpreter(self.tflite_path)
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
        tf2onnx = _tf2onnx()
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tf2onnx.convert.from_tflite(
                    str(self.tflite_path), opset=opset, output_path=str(out_path)
                )
        except Exception as exc:  # tf2onnx raises many unrelated types
            raise ExportError(
                f"tf2onnx could not convert {self.name!r}: {str(exc).splitlines()[0][:300]}",
                hint="quantized or custom TFLite ops may have no ONNX mapping; convert the float "
                "model (SavedModel / Keras) instead",
            ) from exc
        return _checked_onnx(self, out_path, opset)


def _tf_shape(shape: list[Dim]) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in shape]


def _named_outputs(result: Any, names: list[str]) -> Feeds:
    if isinstance(result, dict):
        return {str(k): np.asarray(v) for k, v in result.items()}
    values = list(result) if isinstance(result, list | tuple) else [result]
    if len(names) != len(values):
        names = [f"output_{i}" for i in range(len(values))]
    return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


def _tf2onnx() -> Any:
    _tensorflow()
    try:
        return require_package("tf2onnx", extra="tf", purpose="converting TF models to ONNX")
    except (AttributeError, TypeError) as exc:
        # tf2onnx 1.17 predates numpy 2 / protobuf 5+; an alias it needs that is gone
        # (np.object, np.bool, ...) surfaces at import time as AttributeError.
        raise DependencyError(
            f"tf2onnx cannot be imported with numpy {np.__version__}: {exc}",
            hint="install the numpy / protobuf versions tf2onnx supports, or convert the model "
            "yourself (python -m tf2onnx.convert) and pass the .onnx file",
        ) from exc


def _saved_model_to_onnx(tf2onnx: Any, saved_model_dir: str, out_path: Path, opset: int) -> None:
    from tf2onnx import tf_loader

    graph_def, inputs, outputs, tensors_to_rename = tf_loader.from_saved_model(
        saved_model_dir,
        None,
        None,
        signatures=[SERVING_SIGNATURE],
        return_tensors_to_rename=True,
    )
    tf2onnx.convert.from_graph_def(
        graph_def,
        input_names=inputs,
        output_names=outputs,
        opset=opset,
        tensors_to_rename=tensors_to_rename,
        output_path=str(out_path),
    )


def _checked_onnx(source: ModelHandle, out_path: Path, opset: int) -> OnnxModelHandle:
    from embodied_ai_architect.modelio.export import check_equivalence
    from embodied_ai_architect.modelio.handle import OnnxModelHandle
    from embodied_ai_architect.modelio.onnx_io import load_onnx_proto, onnx_signature

    proto = load_onnx_proto(out_path)
    inputs, outputs = onnx_signature(proto)
    if len(inputs) != len(source.inputs):
        raise ExportError(
            f"the ONNX graph has {len(inputs)} inputs, the source {len(source.inputs)}",
            hint="report this as a bug with the model attached",
        )
    by_name = {spec.name: spec for spec in inputs}
    tensor_names = getattr(source, "tensor_names", {})
    ordered = []
    for position, spec in enumerate(source.inputs):
        graph_spec = by_name.get(spec.name) or by_name.get(tensor_names.get(spec.name, ""))
        graph_spec = graph_spec or inputs[position]
        # Keep the source's integer ranges and concrete shapes, the graph's names.
        ordered.append(spec.model_copy(update={"name": graph_spec.name}))
    handle = OnnxModelHandle(
        out_path,
        name=source.name,
        source_format=ModelFormat.ONNX,
        inputs=ordered,
        outputs=outputs,
        metadata={"opset": opset, "exported_from": source.source_format.value},
    )
    check_equivalence(source, handle, rtol=1e-3, atol=1e-4)
    return handle


def _load_saved_model(path: Path, options: LoadOptions) -> TensorFlowModelHandle:
    tf = _tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TF raises many types on a broken SavedModel
        raise ModelFormatError(
            f"{path.name!r} is not a loadable TF SavedModel: {str(exc).splitlines()[0][:300]}",
            hint="the directory may be incomplete (saved_model.pb + variables/); save it again",
        ) from exc
    signatures = dict(loaded.signatures)
    if not signatures:
        raise ModelFormatError(
            f"SavedModel {path.name!r} has no serving signature",
            hint="export it with model.export(path) (Keras) or tf.saved_model.save(obj, path, "
            "signatures=...)",
        )
    function = signatures.get(SERVING_SIGNATURE) or next(iter(signatures.values()))
    _, kwargs = function.structured_input_signature
    inputs = [
        TensorSpec(name=name, shape=_dims(spec.shape), dtype=_numpy_dtype(spec.dtype))
        for name, spec in sorted(kwargs.items())
    ]
    outputs = [
        TensorSpec(name=name, shape=_dims(spec.shape), dtype=_numpy_dtype(spec.dtype))
        for name, spec in sorted(function.structured_outputs.items())
    ]
    return TensorFlowModelHandle(
        function,
        kind="saved_model",
        owner=loaded,
        name=path.name,
        source_format=ModelFormat.TF_SAVEDMODEL,
        path=path,
        inputs=_with_shapes(inputs, options),
        outputs=outputs,
        metadata={"saved_model_dir": str(path), "signatures": sorted(signatures)},
    )


def _load_keras(path: Path, fmt: ModelFormat, options: LoadOptions) -> TensorFlowModelHandle:
    _tensorflow()
    keras = require_package("keras", extra="tf", purpose="Keras models")
    try:
        # safe_mode refuses Lambda layers holding pickled Python code unless the user trusts it,
        # the same consent --trust-pickle gives for torch pickles.
        model = keras.models.load_model(
            str(path), compile=False, safe_mode=not options.trust_pickle
        )
    except ValueError as exc:
        message = str(exc).splitlines()[0][:300]
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise ModelFormatError(
                f"{path.name!r} contains Python code (a Lambda layer) that Keras only loads in "
                f"unsafe mode: {message}",
                hint="pass --trust-pickle if you trust the file, or replace the Lambda layer with "
                "a registered custom layer",
            ) from exc
        raise ModelFormatError(
            f"{path.name!r} cannot be loaded as a Keras model: {message}",
            hint="a weights-only file (model.save_weights) has no architecture: save the whole "
            "model with model.save('model.keras'), or export a SavedModel",
        ) from exc
    except Exception as exc:  # h5py / zip / deserialisation errors
        raise ModelFormatError(
            f"{path.name!r} cannot be loaded as a Keras model: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
            hint="the file may be truncated, weights-only, or need custom layers; save the whole "
            "model with model.save('model.keras') or export a SavedModel",
        ) from exc
    inputs = [
        TensorSpec(
            name=str(tensor.name).split(":")[0],
            shape=_dims(tensor.shape),
            dtype=_numpy_dtype(tensor.dtype),
        )
        for tensor in model.inputs
    ]
    output_names = list(getattr(model, "output_names", None) or [])
    outputs = [
        TensorSpec(
            name=output_names[i] if i < len(output_names) else f"output_{i}",
            shape=_dims(tensor.shape),
            dtype=_numpy_dtype(tensor.dtype),
        )
        for i, tensor in enumerate(model.outputs)
    ]
    return TensorFlowModelHandle(
        model,
        kind="keras",
        name=path.stem,
        source_format=fmt,
        path=path,
        inputs=_with_shapes(inputs, options),
        outputs=outputs,
        metadata={"keras_version": keras.__version__},
    )


def _tflite_interpreter(path: Path) -> Any:
    litert = require_package(
        "ai_edge_litert.interpreter", extra="tflite", purpose="running .tflite models"
    )
    try:
        interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelFormatError(
            f"{path.name!r} is not a loadable TFLite model: {str(exc).splitlines()[0][:300]}",
            hint="the file may be truncated or use custom ops; convert the model again",
        ) from exc
    return interpreter


def _load_tflite(path: Path, options: LoadOptions) -> TFLiteModelHandle:
    interpreter = _tflite_interpreter(path)
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
            name=name, shape=_dims([int(d) for d in shape]), dtype=np.dtype(detail["dtype"]).name
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
        inputs=_with_shapes(inputs, options),
        outputs=outputs,
        metadata={"quantized_io": bool(quantized), "signatures": sorted(signatures)},
    )
