"""TensorFlow models: SavedModel directories, Keras ``.keras`` / ``.h5`` and ``.tflite`` files.

TensorFlow, Keras, tf2onnx and ai_edge_litert are imported inside functions (extra ``tf``), so
nothing here costs anything until a TF model is actually loaded. Each handle runs numpy feeds
(the SavedModel's serving signature, the Keras model, or the LiteRT interpreter) and converts
itself to ONNX with tf2onnx (``to_onnx``), checked numerically against itself — that is how
analysis, optimization and deployment reach non-torch models.

``.tflite`` files are handled in ``tflite_io`` (LiteRT alone); the helpers both share live in
``tf_common``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.errors import ModelFormatError, describe, first_line
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import Feeds, Framework, ModelHandle
from embodied_ai_architect.modelio.tf_common import (
    SERVING_SIGNATURE,
    convert_to_onnx,
    dims,
    numpy_dtype,
    tensorflow,
    tf2onnx,
    with_shapes,
)
from embodied_ai_architect.modelio.tflite_io import TFLiteModelHandle, load_tflite
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.tensors import Dim, TensorSpec
from embodied_ai_architect.utils.deps import require_package

if TYPE_CHECKING:
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

__all__ = ["SERVING_SIGNATURE", "TFLiteModelHandle", "TensorFlowModelHandle", "load_tf"]


def load_tf(path: Path, fmt: ModelFormat, options: LoadOptions) -> ModelHandle:
    """Load a TF SavedModel, Keras (.keras / .h5) or TFLite model into a handle."""
    if fmt is ModelFormat.TFLITE:
        return load_tflite(path, options)
    if fmt is ModelFormat.TF_SAVEDMODEL:
        return _load_saved_model(path, options)
    if fmt in (ModelFormat.KERAS, ModelFormat.KERAS_H5):
        return _load_keras(path, fmt, options)
    raise ModelFormatError(f"{fmt} is not a TensorFlow format", hint="report this as a bug")


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
        self._serving: Any = None  # the Keras model traced as a tf.function, on first run

    def run(self, feeds: Feeds) -> Feeds:
        tf = tensorflow()
        self.check_feeds(feeds)
        tensors = {
            s.name: tf.constant(np.asarray(feeds[s.name], dtype=s.dtype)) for s in self.inputs
        }
        if self.kind == "saved_model":
            result = self.model(**tensors)
        else:
            # Traced once, as a deployed Keras model runs: an eager call dispatches op by op
            # from Python (tens of ms for a small CNN), which would be the baseline every
            # optimized version is compared with.
            if self._serving is None:
                self._serving = self._keras_function(fixed_shapes=False)[0]
            named = self._serving(*(tensors[s.name] for s in self.inputs))
            # A dict comes back in key order; give the outputs in the model's order.
            order = [s.name for s in self.outputs if s.name in named] or list(named)
            result = {name: named[name] for name in order}
        return _named_outputs(result, [s.name for s in self.outputs])

    def to_onnx(self, out_path: Path, *, opset: int = 18) -> OnnxModelHandle:
        """Convert with tf2onnx (the Keras model traced as a function / the SavedModel's frozen
        graph), checked numerically."""
        converter = tf2onnx()

        def convert(output_path: str) -> None:
            if self.kind == "keras":
                function, signature = self._keras_function()
                converter.convert.from_function(
                    function, input_signature=signature, opset=opset, output_path=output_path
                )
            else:
                _saved_model_to_onnx(
                    converter, self.metadata["saved_model_dir"], output_path, opset
                )

        return convert_to_onnx(
            self,
            out_path,
            opset,
            convert,
            hint="the model may use ops tf2onnx does not map at this opset: convert it yourself "
            "(python -m tf2onnx.convert, choosing the opset) and give the .onnx file as "
            "`model_path`",
        )

    def _keras_function(self, *, fixed_shapes: bool = True) -> tuple[Any, list[Any]]:
        """The Keras model as a ``tf.function`` returning ``{output name: tensor}``.

        tf2onnx's ``from_keras`` names outputs from ``model.output_names``, which a Keras 3
        Sequential model lacks; it then looks the output up by its KerasTensor name and fails
        (KeyError 'keras_tensor_N'). A dict of outputs names the graph's outputs itself, with
        the names this handle's ``run`` gives, whatever the Keras version.

        ``fixed_shapes``: trace for the handle's input shapes (the ONNX export); otherwise for
        any batch size (``run``, fed batches of any size)."""
        tf = tensorflow()
        signature = [
            tf.TensorSpec(
                _tf_shape(s.shape if fixed_shapes or not s.shape else ["batch", *s.shape[1:]]),
                s.dtype,
                name=s.name,
            )
            for s in self.inputs
        ]
        names = [s.name for s in self.outputs]
        model = self.model

        @tf.function(input_signature=signature)  # type: ignore[misc]
        def serving(*tensors: Any) -> dict[str, Any]:
            result = model(list(tensors) if len(tensors) > 1 else tensors[0], training=False)
            if isinstance(result, dict):
                return {str(key): value for key, value in result.items()}
            values = list(result) if isinstance(result, list | tuple) else [result]
            keys = (
                names if len(names) == len(values) else [f"output_{i}" for i in range(len(values))]
            )
            return dict(zip(keys, values, strict=True))

        return serving, signature


def _tf_shape(shape: list[Dim]) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in shape]


def _named_outputs(result: Any, names: list[str]) -> Feeds:
    if isinstance(result, dict):
        return {str(k): np.asarray(v) for k, v in result.items()}
    values = list(result) if isinstance(result, list | tuple) else [result]
    if len(names) != len(values):
        names = [f"output_{i}" for i in range(len(values))]
    return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


def _saved_model_to_onnx(converter: Any, saved_model_dir: str, out_path: str, opset: int) -> None:
    from tf2onnx import tf_loader

    graph_def, inputs, outputs, tensors_to_rename = tf_loader.from_saved_model(
        saved_model_dir,
        None,
        None,
        signatures=[SERVING_SIGNATURE],
        return_tensors_to_rename=True,
    )
    converter.convert.from_graph_def(
        graph_def,
        input_names=inputs,
        output_names=outputs,
        opset=opset,
        tensors_to_rename=tensors_to_rename,
        output_path=out_path,
    )


def _load_saved_model(path: Path, options: LoadOptions) -> TensorFlowModelHandle:
    tf = tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TF raises many types on a broken SavedModel
        raise ModelFormatError(
            f"{path.name!r} is not a loadable TF SavedModel: {first_line(exc)}",
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
        TensorSpec(name=name, shape=dims(spec.shape), dtype=numpy_dtype(spec.dtype))
        for name, spec in sorted(kwargs.items())
    ]
    outputs = [
        TensorSpec(name=name, shape=dims(spec.shape), dtype=numpy_dtype(spec.dtype))
        for name, spec in sorted(function.structured_outputs.items())
    ]
    return TensorFlowModelHandle(
        function,
        kind="saved_model",
        owner=loaded,
        name=path.name,
        source_format=ModelFormat.TF_SAVEDMODEL,
        path=path,
        inputs=with_shapes(inputs, options),
        outputs=outputs,
        metadata={"saved_model_dir": str(path), "signatures": sorted(signatures)},
    )


def _load_keras(path: Path, fmt: ModelFormat, options: LoadOptions) -> TensorFlowModelHandle:
    tensorflow()
    keras = require_package("keras", extra="tf", purpose="Keras models")
    try:
        # safe_mode refuses Lambda layers holding pickled Python code unless the user trusts it,
        # the same consent --trust-pickle gives for torch pickles.
        model = keras.models.load_model(
            str(path), compile=False, safe_mode=not options.trust_pickle
        )
    except ValueError as exc:
        message = first_line(exc)
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise ModelFormatError(
                f"{path.name!r} contains Python code (a Lambda layer) that Keras only loads in "
                f"unsafe mode: {message}",
                hint="set `trust_pickle` if you trust the file, or replace the Lambda layer with "
                "a registered custom layer",
                field="trust_pickle",
            ) from exc
        raise ModelFormatError(
            f"{path.name!r} cannot be loaded as a Keras model: {message}",
            hint="a weights-only file (model.save_weights) has no architecture: save the whole "
            "model with model.save('model.keras'), or export a SavedModel",
        ) from exc
    except Exception as exc:  # h5py / zip / deserialisation errors
        raise ModelFormatError(
            f"{path.name!r} cannot be loaded as a Keras model: {describe(exc)}",
            hint="the file may be truncated, weights-only, or need custom layers; save the whole "
            "model with model.save('model.keras') or export a SavedModel",
        ) from exc
    inputs = [
        TensorSpec(
            name=str(tensor.name).split(":")[0],
            shape=dims(tensor.shape),
            dtype=numpy_dtype(tensor.dtype),
        )
        for tensor in model.inputs
    ]
    output_names = list(getattr(model, "output_names", None) or [])
    outputs = [
        TensorSpec(
            name=output_names[i] if i < len(output_names) else f"output_{i}",
            shape=dims(tensor.shape),
            dtype=numpy_dtype(tensor.dtype),
        )
        for i, tensor in enumerate(model.outputs)
    ]
    return TensorFlowModelHandle(
        model,
        kind="keras",
        name=path.stem,
        source_format=fmt,
        path=path,
        inputs=with_shapes(inputs, options),
        outputs=outputs,
        metadata={"keras_version": keras.__version__},
    )
