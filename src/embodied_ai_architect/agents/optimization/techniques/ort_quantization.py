"""Technique module ort_quantization (being written)."""
