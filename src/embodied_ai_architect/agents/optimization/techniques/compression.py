"""Technique module compression (being written)."""
