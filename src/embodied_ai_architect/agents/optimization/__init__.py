"""Optimization agents: registered techniques (quantization, pruning, distillation, NAS, compression)."""
