"""Technique module openvino_quantization (being written)."""
