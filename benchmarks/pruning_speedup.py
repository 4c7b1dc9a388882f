"""Structured pruning speed-up on ONNX Runtime: full-width ResNet-18 (224×224), batch 1.

Run: .venv/bin/python benchmarks/pruning_speedup.py [--ratio 0.5] [--threads 2] [--rounds 5]

Prunes with the registered ``prune_structured`` technique, folds BatchNorm, exports both models
to ONNX and times them alternately (rounds × runs) so machine noise hits both equally; prints
the median p50 of each and the speed-up.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from embodied_ai_architect.agents.evaluation.latency import measure_latency
from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.models import ResNet18, count_parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="pruning-speedup-"))
    handle = handle_from_module(ResNet18(), name="resnet18")
    pruned = apply_technique(
        "prune_structured", handle, TechniqueContext(workdir=work / "prune"), {"ratio": args.ratio}
    ).handle
    base_onnx = export_onnx(handle, work / "base.onnx", threads=args.threads)
    pruned_onnx = export_onnx(pruned, work / "pruned.onnx", threads=args.threads)
    base_ms: list[float] = []
    pruned_ms: list[float] = []
    for _ in range(args.rounds):
        base_ms.append(measure_latency(base_onnx, threads=args.threads, runs=args.runs).p50_ms)
        pruned_ms.append(measure_latency(pruned_onnx, threads=args.threads, runs=args.runs).p50_ms)
    base, small = statistics.median(base_ms), statistics.median(pruned_ms)
    print(f"params      {count_parameters(handle.module):,} -> {count_parameters(pruned.module):,}")  # type: ignore[attr-defined]
    print(
        f"onnx bytes  {base_onnx.onnx_path.stat().st_size:,} -> {pruned_onnx.onnx_path.stat().st_size:,}"
    )
    print(
        f"ORT p50 ms  {base:.1f} -> {small:.1f}  (rounds: {[round(v, 1) for v in base_ms]} vs {[round(v, 1) for v in pruned_ms]})"
    )
    print(f"speed-up    {base / small:.2f}x at ratio {args.ratio}, {args.threads} threads")


if __name__ == "__main__":
    main()
