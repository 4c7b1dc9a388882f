"""Model intake: detect a file's format from its bytes, load it into a ModelHandle, export to ONNX.

Public entry points: :func:`detect_format`, :func:`load_model` (``loader``),
:func:`export_onnx` (``export``). One module per family: ``torch_io`` / ``torch_save``
(TorchScript, torch.export, state dicts, pickles), ``onnx_io``, ``hf_io`` (SafeTensors +
config.json, via transformers), ``tf_io`` (SavedModel, Keras, TFLite), ``openvino_io``.
See docs/model-formats.md.
Heavy frameworks (torch, onnxruntime, tensorflow) are imported inside functions only.
"""

from embodied_ai_architect.modelio.formats import ModelFormat, detect_format

__all__ = ["ModelFormat", "detect_format"]
