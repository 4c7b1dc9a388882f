"""Tiny in-process models and data factories for tests, demos and benchmarks (no downloads)."""
