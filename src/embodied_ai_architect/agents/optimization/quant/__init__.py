"""Helpers behind the quantization techniques (graph inspection, calibration, name mapping).

Imported only by technique modules, so ONNX / ONNX Runtime imports here stay out of the CLI.
"""
