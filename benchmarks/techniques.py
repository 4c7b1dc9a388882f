"""Quantization (and pruning / BN folding) techniques side by side on this host.

For a ResNet-18-shaped CNN (224×224), a ViT-S/16-shaped transformer and an MLP policy: size,
p50/p95 latency (batch 1, 2 threads) and fidelity (cosine vs FP32, top-1 agreement) of ORT FP32,
OpenVINO FP32 and every applicable registered technique, with speedups vs ORT FP32 measured in
the same run. Random weights and synthetic calibration data (fidelity = agreement with FP32).

    .venv/bin/python benchmarks/techniques.py            # full size, ~5 minutes
    .venv/bin/python benchmarks/techniques.py --quick    # tiny shapes, smoke test

Writes benchmarks/results/techniques.json. The VM is noisy: compare rows within one run only.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embodied_ai_architect.agents.evaluation.latency import measure_latency
from embodied_ai_architect.agents.optimization.base import (
    TechniqueContext,
    apply_technique,
    load_techniques,
)
from embodied_ai_architect.data.calibration import random_provider
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.handle import ModelHandle, TorchModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.models import MLPPolicy, ResNet18, TinyViT

THREADS = 2
RESULTS = Path(__file__).parent / "results" / "techniques.json"


@dataclass
class Row:
    model: str
    variant: str
    technique: str | None
    config: dict[str, Any]
    size_mb: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    speedup: float | None = None
    cosine: float | None = None
    top1_agreement: float | None = None
    seconds_to_apply: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def _cpu_flags() -> list[str]:
    try:
        line = next(
            ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")
        )
    except (OSError, StopIteration):
        return []
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "avx512_fp16")
    return [flag for flag in wanted if flag in line.split()]


def _size_mb(handle: ModelHandle) -> float:
    if isinstance(handle, TorchModelHandle):
        from embodied_ai_architect.agents.optimization.techniques.torch_quantization import (
            state_bytes,
        )

        return state_bytes(handle.module) / 1e6
    path = Path(handle.path) if handle.path else None
    if path is None:
        return float("nan")
    total = path.stat().st_size
    if path.suffix == ".xml":
        total += path.with_suffix(".bin").stat().st_size
    return total / 1e6


def _outputs(handle: ModelHandle, samples: list[dict[str, np.ndarray]]) -> np.ndarray:
    rows = []
    for feeds in samples:
        renamed = {
            spec.name: value for spec, value in zip(handle.inputs, feeds.values(), strict=True)
        }
        rows.append(next(iter(handle.run(renamed).values())).astype(np.float64).reshape(1, -1))
    return np.concatenate(rows)


def _models(quick: bool, vit_depth: int) -> list[tuple[str, torch.nn.Module, bool]]:
    torch.manual_seed(0)
    if quick:
        return [
            ("cnn", ResNet18(width=16, image_size=64, num_classes=100), True),
            (
                "vit",
                TinyViT(image_size=64, patch_size=16, dim=128, depth=2, heads=4, num_classes=100),
                True,
            ),
            ("mlp_policy", MLPPolicy(obs_dim=64, act_dim=8, hidden=256), False),
        ]
    return [
        ("resnet18", ResNet18(), True),
        (
            f"vit_s16_d{vit_depth}",
            TinyViT(
                image_size=224, patch_size=16, dim=384, depth=vit_depth, heads=6, num_classes=1000
            ),
            True,
        ),
        ("mlp_policy", MLPPolicy(obs_dim=64, act_dim=8, hidden=256), False),
    ]


def _variants(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, technique, config) per model kind; ORT FP32 is the baseline row."""
    common = [
        ("OpenVINO FP32", "openvino_ir", {}),
        ("ORT FP16", "ort_fp16", {}),
    ]
    if kind == "cnn":
        return [
            *common,
            ("ORT static INT8 U8S8 reduce_range", "ort_int8_static", {"num_samples": 32}),
            (
                "ORT static INT8 S8S8",
                "ort_int8_static",
                {"num_samples": 32, "scheme": "S8S8", "reduce_range": False},
            ),
            (
                "ORT static INT8 QOperator",
                "ort_int8_static",
                {"num_samples": 32, "quant_format": "qoperator"},
            ),
            ("ORT dynamic INT8 (ConvInteger)", "ort_int8_dynamic", {}),
            ("OpenVINO INT8 (NNCF)", "openvino_int8", {"subset_size": 32}),
            ("pruned 50% (ORT FP32)", "prune_structured", {"ratio": 0.5}),
            ("BN folded (ORT FP32)", "fold_batchnorm", {}),
        ]
    if kind == "vit":
        return [
            *common,
            ("ORT dynamic INT8", "ort_int8_dynamic", {}),
            ("ORT dynamic INT8 per-channel", "ort_int8_dynamic", {"per_channel": True}),
            ("ORT static INT8 U8S8 reduce_range", "ort_int8_static", {"num_samples": 32}),
            ("OpenVINO INT8 (NNCF, transformer)", "openvino_int8", {"subset_size": 32}),
            ("ORT INT4 RTN b32", "ort_int4_rtn", {"block_size": 32}),
            ("ORT INT4 RTN b32 acc4", "ort_int4_rtn", {"block_size": 32, "accuracy_level": 4}),
        ]
    return [
        *common,
        ("ORT dynamic INT8", "ort_int8_dynamic", {}),
        ("ORT static INT8 U8S8 reduce_range", "ort_int8_static", {"num_samples": 32}),
        ("OpenVINO INT8 (NNCF)", "openvino_int8", {"subset_size": 32}),
        ("torch dynamic INT8 (eager)", "torch_int8_dynamic", {}),
        ("ORT INT4 RTN b16", "ort_int4_rtn", {"block_size": 16}),
    ]


def _time(handle: ModelHandle, runs: int) -> tuple[float, float]:
    stats = measure_latency(handle, threads=THREADS, warmup=5, runs=runs, max_seconds=5.0)
    return stats.p50_ms, stats.p95_ms


def bench_model(
    name: str, module: torch.nn.Module, classifier: bool, workdir: Path, runs: int, samples: int
) -> list[Row]:
    registry = load_techniques()
    kind = "cnn" if "res" in name or name == "cnn" else "vit" if "vit" in name else "mlp"
    torch_handle = handle_from_module(module.eval(), name=name)
    baseline = export_onnx(torch_handle, workdir / f"{name}.onnx", threads=THREADS)
    evaluation = [baseline.example_inputs(batch=1, seed=1000 + i) for i in range(samples)]
    reference = _outputs(baseline, evaluation)
    p50, p95 = _time(baseline, runs)
    rows = [
        Row(
            name,
            "ORT FP32",
            None,
            {},
            _size_mb(baseline),
            p50,
            p95,
            1.0,
            1.0,
            1.0 if classifier else None,
        )
    ]
    print(f"  {name}: ORT FP32 p50 {p50:.2f} ms", flush=True)
    for label, technique, config in _variants(kind):
        row = Row(name, label, technique, config)
        rows.append(row)
        if technique not in registry:
            row.error = "not registered"
            continue
        spec = registry.get(technique)
        ok, reason = spec.availability()
        if not ok:
            row.error = reason
            continue
        source: ModelHandle = (
            torch_handle if spec.manifest.input_frameworks[0].value == "torch" else baseline
        )
        ctx = TechniqueContext(
            workdir=workdir / name / label.replace(" ", "_").replace("%", ""),
            threads=THREADS,
            calibration=random_provider(baseline.inputs, num_samples=64, seed=7),
        )
        started = time.perf_counter()
        try:
            result = apply_technique(technique, source, ctx, config)
            handle = result.handle
            if isinstance(handle, TorchModelHandle) and technique != "torch_int8_dynamic":
                # pruning / folding produce torch models: time them the way they deploy (ORT)
                handle = export_onnx(handle, ctx.path("exported.onnx"), threads=THREADS)
            row.seconds_to_apply = time.perf_counter() - started
            row.metrics = dict(result.metrics)
            row.size_mb = _size_mb(handle)
            outputs = _outputs(handle, evaluation)
            if outputs.shape == reference.shape:
                row.cosine = float(
                    (outputs * reference).sum()
                    / (np.linalg.norm(outputs) * np.linalg.norm(reference))
                )
                if classifier:
                    row.top1_agreement = float((outputs.argmax(1) == reference.argmax(1)).mean())
            row.p50_ms, row.p95_ms = _time(handle, runs)
            print(
                f"  {name}: {label} p50 {row.p50_ms:.2f} ms, cos {row.cosine}",
                flush=True,
            )
        except Exception as exc:  # a failing technique is a result row, not a crash
            row.error = f"{type(exc).__name__}: {exc}"[:300]
            print(f"  {name}: {label} FAILED {row.error}", flush=True)
    # The shared VM's load swings a lot: time the baseline again at the end and take the faster
    # of the two, so a slow first measurement cannot inflate every speedup.
    again, again95 = _time(baseline, runs)
    base = rows[0]
    base.metrics = {"p50_first_ms": p50, "p50_last_ms": again}
    if again < p50:
        base.p50_ms, base.p95_ms = again, again95
    for row in rows:
        if row.p50_ms and base.p50_ms:
            row.speedup = base.p50_ms / row.p50_ms
    print(f"  {name}: ORT FP32 again p50 {again:.2f} ms (first {p50:.2f} ms)", flush=True)
    return rows


def _targets(rows: list[Row]) -> dict[str, Any]:
    def best_int8(model_prefix: str, min_cos: float) -> float | None:
        speeds = [
            r.speedup
            for r in rows
            if r.model.startswith(model_prefix)
            and r.speedup
            and "INT8" in r.variant
            and (r.cosine or 0) >= min_cos
        ]
        return max(speeds) if speeds else None

    int4 = [
        r.metrics["matmul_weight_bytes_before"] / r.metrics["matmul_weight_bytes_after"]
        for r in rows
        if r.technique == "ort_int4_rtn" and r.model.startswith(("vit", "vit_s16")) and r.metrics
    ]
    pruned = [r.speedup for r in rows if r.technique == "prune_structured" and r.speedup]
    checks = {
        "cnn_best_int8_speedup_at_cos_0.995": (
            best_int8("res", 0.995) or best_int8("cnn", 0.995),
            1.8,
        ),
        "vit_best_int8_speedup_at_cos_0.998": (best_int8("vit", 0.998), 1.5),
        "vit_int4_matmul_weight_compression": (max(int4) if int4 else None, 6.0),
        "cnn_prune50_speedup": (max(pruned) if pruned else None, 1.7),
    }
    return {
        key: {"value": value, "target": target, "met": value is not None and value >= target}
        for key, (value, target) in checks.items()
    }


def _table(rows: list[Row]) -> str:
    head = f"{'model':<14} {'variant':<36} {'MB':>7} {'p50 ms':>8} {'p95 ms':>8} {'×':>5} {'cosine':>8} {'top1':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.error:
            lines.append(f"{r.model:<14} {r.variant:<36} {'—':>7}  {r.error[:70]}")
            continue
        lines.append(
            f"{r.model:<14} {r.variant:<36} {r.size_mb or 0:>7.2f} {r.p50_ms or 0:>8.2f} "
            f"{r.p95_ms or 0:>8.2f} {r.speedup or 0:>5.2f} {r.cosine if r.cosine is not None else float('nan'):>8.4f} "
            f"{'' if r.top1_agreement is None else f'{r.top1_agreement:.2f}':>6}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes (smoke test)")
    parser.add_argument("--vit-depth", type=int, default=6, help="ViT-S/16 depth (12 = full)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per variant")
    parser.add_argument("--samples", type=int, default=16, help="fidelity inputs per model")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench_techniques_") as tmp:
        for name, module, classifier in _models(args.quick, args.vit_depth):
            print(f"[{time.perf_counter() - started:6.1f}s] {name}", flush=True)
            rows += bench_model(name, module, classifier, Path(tmp), args.runs, args.samples)
    targets = _targets(rows)
    print(_table(rows))
    for key, check in targets.items():
        print(
            f"target {key}: {check['value']} (≥ {check['target']}) {'met' if check['met'] else 'NOT met'}"
        )
    report = {
        "benchmark": "techniques",
        "host": {
            "machine": platform.processor() or platform.machine(),
            "cpu_flags": _cpu_flags(),
            "threads": THREADS,
        },
        "python": sys.version.split()[0],
        "quick": args.quick,
        "seconds": time.perf_counter() - started,
        "note": "random weights; synthetic calibration; noisy shared VM: compare within this run",
        "rows": [asdict(r) for r in rows],
        "targets": targets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out} in {report['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
