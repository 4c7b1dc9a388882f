"""Technique module distillation (being written)."""
