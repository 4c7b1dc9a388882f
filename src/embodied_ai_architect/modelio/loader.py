"""load_model: one entry point for every supported format."""

from __future__ import annotations

from pathlib import Path

from embodied_ai_architect.errors import ModelFormatError
from embodied_ai_architect.modelio.formats import ModelFormat, detect_format
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.schemas.loading import LoadOptions

_TORCH = {
    ModelFormat.TORCHSCRIPT,
    ModelFormat.TORCH_EXPORT,
    ModelFormat.TORCH_ZIP,
    ModelFormat.TORCH_LEGACY,
}
_TF = {ModelFormat.TF_SAVEDMODEL, ModelFormat.KERAS, ModelFormat.KERAS_H5, ModelFormat.TFLITE}
_HF = {ModelFormat.SAFETENSORS, ModelFormat.SAFETENSORS_INDEX, ModelFormat.HF_DIRECTORY}


def load_model(
    path: Path | str, options: LoadOptions | None = None, *, threads: int | None = None
) -> ModelHandle:
    """Detect the format of ``path`` from its bytes and load it.

    Example:
        >>> handle = load_model("policy.onnx")  # doctest: +SKIP
        >>> outputs = handle.run(handle.example_inputs())  # doctest: +SKIP
    """
    from embodied_ai_architect.settings import get_settings

    options = options or LoadOptions()
    path = Path(path)
    max_bytes = options.max_bytes or get_settings().max_model_bytes
    fmt = detect_format(path, max_bytes=max_bytes)
    handle = _load(path, fmt, options, threads)
    if options.inputs:
        from embodied_ai_architect.modelio.signature import apply_overrides

        handle.inputs = apply_overrides(handle.inputs, options.inputs)
    return handle


def _load(path: Path, fmt: ModelFormat, options: LoadOptions, threads: int | None) -> ModelHandle:
    if fmt in _TORCH:
        from embodied_ai_architect.modelio.torch_io import load_torch

        return load_torch(path, fmt, options)
    if fmt is ModelFormat.ONNX:
        from embodied_ai_architect.modelio.onnx_io import load_onnx

        return load_onnx(path, input_shapes=options.input_shapes, threads=threads)
    if fmt in _HF:
        from embodied_ai_architect.modelio.hf_io import load_hf

        return load_hf(path, fmt, options)
    if fmt in _TF:
        from embodied_ai_architect.modelio.tf_io import load_tf

        return load_tf(path, fmt, options)
    raise ModelFormatError(f"no loader for format {fmt}", hint="report this as a bug")
