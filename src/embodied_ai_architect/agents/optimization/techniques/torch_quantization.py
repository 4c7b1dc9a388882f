"""Technique module torch_quantization (being written)."""
