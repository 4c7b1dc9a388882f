"""Parallel search: the same optimize job with 1 and N search workers (wall time, same result).

Runs one optimize job on a corpus model (default ``ppocr_cls``, ONNX, from ``make corpus``) with
``search_workers=1`` and ``=N`` at the same seed and attempt budget, prints the wall time of each
and their ratio, and checks that both chose the same version by the same attempts (the objective
is size, so decisions do not hinge on latency noise). From the sequential run's per-attempt costs
(apply, fidelity evaluation, timing) it then estimates, on paper, what W workers would give, e.g.
4 nodes × 16 cores.

Usage:
    EAA_NUM_THREADS=1 .venv/bin/python benchmarks/parallel_search.py [--workers 2] [--model ppocr_cls]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any


def _run(
    model: Path,
    inputs: list[str],
    root: Path,
    workers: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    from embodied_ai_architect.modelio.signature import parse_input_overrides
    from embodied_ai_architect.pipeline import run_optimize
    from embodied_ai_architect.schemas.constraints import Budget, Constraints
    from embodied_ai_architect.schemas.loading import LoadOptions
    from embodied_ai_architect.schemas.results import OptimizeRequest
    from embodied_ai_architect.settings import Settings

    request = OptimizeRequest(
        model_path=model,
        load_options=LoadOptions(inputs=parse_input_overrides(inputs or None)),
        constraints=Constraints(
            budget=Budget(max_attempts=args.attempts),
            max_accuracy_drop=args.max_accuracy_drop,
            objective="size",
            target="onnxruntime",
        ),
        out_dir=root / f"out{workers}",
        search_workers=workers,
        model_memory=False,
        max_eval_samples=500,
    )
    started = time.perf_counter()
    report = run_optimize(
        request, settings=Settings(workspace=root / f"ws{workers}", num_threads=args.threads)
    )
    wall = time.perf_counter() - started
    timing = re.compile(r"p50 [0-9.e+-]+( → [0-9.e+-]+)? ms")
    return {
        "wall_s": wall,
        "timings": report.timings.model_dump(),
        "best": report.best.id if report.best else None,
        "best_technique": report.best.technique if report.best else None,
        "best_sha256": report.best.sha256 if report.best else None,
        "attempts": [
            {
                "index": a.index,
                "step": a.step_id,
                "technique": a.technique,
                "status": a.status.value,
                "version": a.version,
                "reason": timing.sub("p50 … ms", a.reason or ""),
                "apply_s": a.technique_seconds,
                "measure_s": a.measure_seconds,
            }
            for a in report.attempts
        ],
    }


def estimate(one: dict[str, Any], many: dict[str, Any], workers: int) -> dict[str, float]:
    """Wall time with ``workers`` per step, from the measured per-attempt costs.

    Per attempt: apply a (worker), evaluation e (worker: the sequential run's measure time
    minus the parallel run's parent-side timing t), timing t (serialized in the driver). A
    technique's fallback retries form a chain (each is planned from the previous result, so
    they run one after another); a step's chains are spread over the workers (longest first)
    and the step lasts as long as its busiest worker. The rest of the job (analysis,
    baseline, re-timing, reports, deployment) is a fixed F."""
    tried = [a for a in one["attempts"] if a["status"] != "skipped"]
    timed = {a["index"]: a["measure_s"] for a in many["attempts"]}
    steps: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for a in tried:
        t = min(timed.get(a["index"], a["measure_s"]), a["measure_s"])
        chain = steps.setdefault(a["step"], {}).setdefault(a["technique"], [])
        chain.append((a["apply_s"] + (a["measure_s"] - t), t))
    costs = [cost for chains in steps.values() for chain in chains.values() for cost in chain]
    fixed = max(0.0, one["wall_s"] - sum(p + t for p, t in costs))
    wall = fixed + sum(t for _, t in costs)
    for chains in steps.values():
        busy = [0.0] * workers
        for length in sorted((sum(p for p, _ in c) for c in chains.values()), reverse=True):
            busy[busy.index(min(busy))] += length
        wall += max(busy)
    return {
        "workers": workers,
        "fixed_s": fixed,
        "parallel_part_s": sum(p for p, _ in costs),
        "serial_timing_s": sum(t for _, t in costs),
        "estimated_wall_s": wall,
        "estimated_speedup": one["wall_s"] / wall if wall else math.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ppocr_cls", help="corpus model id")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--attempts", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=1.0,
        help="points; a loose bound keeps fallback chains (sequential by nature) short",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/parallel_search.json"))
    args = parser.parse_args()

    from embodied_ai_architect.testing.corpus import load_manifest, model_path

    entry = load_manifest().model(args.model)
    model = model_path(entry)
    with tempfile.TemporaryDirectory() as tmp:
        one = _run(model, entry.inputs, Path(tmp), 1, args)
        many = _run(model, entry.inputs, Path(tmp), args.workers, args)
    same = (one["best"], one["best_sha256"]) == (many["best"], many["best_sha256"]) and [
        (a["index"], a["technique"], a["status"], a["version"], a["reason"])
        for a in one["attempts"]
    ] == [
        (a["index"], a["technique"], a["status"], a["version"], a["reason"])
        for a in many["attempts"]
    ]
    result = {
        "model": args.model,
        "host_cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "threads": args.threads,
        "max_accuracy_drop": args.max_accuracy_drop,
        "sequential": one,
        "parallel": many,
        "ratio": one["wall_s"] / many["wall_s"],
        "same_result": same,
        # Each worker timed alone: the estimate ignores worker start-up (paid once per run).
        "estimate_this_host": estimate(one, many, args.workers),
        # 4 nodes × 16 cores at 2 threads per candidate: 32 workers, capped by a step's size.
        "estimate_4x16": estimate(one, many, 32),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    for name, run in (("1 worker", one), (f"{args.workers} workers", many)):
        print(f"{name}: {run['wall_s']:.1f} s, best {run['best']} ({run['best_technique']})")
    print(f"ratio (sequential / parallel): {result['ratio']:.2f}×; same result: {same}")
    print(json.dumps({k: result[k] for k in ("estimate_this_host", "estimate_4x16")}, indent=2))
    if not same:
        raise SystemExit("the parallel search chose differently: see " + str(args.out))


if __name__ == "__main__":
    main()
