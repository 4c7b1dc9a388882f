"""What the TensorFlow and LiteRT loaders share: lazy imports, signatures and tf2onnx export.

TensorFlow, tf2onnx and ai_edge_litert are imported inside functions (extras ``tf`` and
``tflite``), so importing this module costs nothing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.errors import DependencyError, ExportError, first_line
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.tensors import Dim, TensorSpec
from embodied_ai_architect.utils.deps import require_package

if TYPE_CHECKING:
    from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle

SERVING_SIGNATURE = "serving_default"


def tensorflow() -> Any:
    # Quiet TF's C++ start-up logging; it is noise on every CLI call.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return require_package("tensorflow", extra="tf", purpose="TensorFlow / Keras models")


def dims(shape: Any) -> list[Dim]:
    """TF / LiteRT shape → our dims: unknown sizes become ``batch`` (first) or ``dimN``."""
    result: list[Dim] = []
    for index, dim in enumerate(list(shape)):
        value = dim if isinstance(dim, int | np.integer) else getattr(dim, "value", dim)
        if value is None or int(value) < 0:
            result.append("batch" if index == 0 else f"dim{index}")
        else:
            result.append(int(value))
    return result


def numpy_dtype(dtype: Any) -> str:
    name = getattr(dtype, "name", None) or np.dtype(dtype).name
    return str(name)


def with_shapes(specs: list[TensorSpec], options: LoadOptions) -> list[TensorSpec]:
    from embodied_ai_architect.modelio.onnx_io import apply_shapes

    return apply_shapes(specs, options.input_shapes)


def tf2onnx() -> Any:
    tensorflow()
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


def convert_to_onnx(
    source: ModelHandle,
    out_path: Path,
    opset: int,
    convert: Callable[[str], None],
    *,
    hint: str,
) -> OnnxModelHandle:
    """Run a tf2onnx ``convert(output_path)`` and check the graph numerically against ``source``.

    tf2onnx raises many unrelated exception types; each becomes an ExportError with ``hint``.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            convert(str(out_path))
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(
            f"tf2onnx could not convert {source.name!r}: {first_line(exc)}",
            hint=hint,
        ) from exc
    return _checked_onnx(source, out_path, opset)


def _checked_onnx(source: ModelHandle, out_path: Path, opset: int) -> OnnxModelHandle:
    from embodied_ai_architect.modelio.export import check_equivalence, exported_handle
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
    handle = exported_handle(source, out_path, ordered, outputs, opset=opset)
    check_equivalence(source, handle, rtol=1e-3, atol=1e-4)
    return handle
