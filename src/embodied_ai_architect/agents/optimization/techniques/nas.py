"""Technique module nas (being written)."""
