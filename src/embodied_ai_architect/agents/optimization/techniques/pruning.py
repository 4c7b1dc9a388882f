"""Technique module pruning (being written)."""
