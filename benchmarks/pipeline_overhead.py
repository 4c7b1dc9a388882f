"""Platform overhead of one optimize job: wall time not spent inside techniques or measurements.

Runs the `branes demo` job (digits CNN, ≤ 1 point accuracy loss) and splits its wall time into
technique time (apply + ONNX exports), measurement time (latency + accuracy of every version),
analysis time and the rest — the platform's own overhead (planning, storing artifacts and
records, events, reports). Target: overhead < 10 % of the job's wall time.

Usage:
    EAA_NUM_THREADS=1 .venv/bin/python benchmarks/pipeline_overhead.py [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/pipeline_overhead.json")
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from embodied_ai_architect.pipeline import run_optimize
    from embodied_ai_architect.pipeline.demo import demo_request, prepare_demo
    from embodied_ai_architect.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs = prepare_demo(root / "data", seed=args.seed)
        settings = Settings(workspace=root / "ws")
        started = time.perf_counter()
        report = run_optimize(
            demo_request(inputs, out_dir=root / "run", seed=args.seed), settings=settings
        )
        wall = time.perf_counter() - started
    t = report.timings
    overhead = max(0.0, wall - t.technique_s - t.measurement_s - t.analysis_s)
    base, best = report.baseline.metrics, report.best.metrics if report.best else None
    result = {
        "job_wall_s": round(wall, 2),
        "technique_s": round(t.technique_s, 2),
        "measurement_s": round(t.measurement_s, 2),
        "analysis_s": round(t.analysis_s, 2),
        "overhead_s": round(overhead, 2),
        "overhead_percent": round(100 * overhead / wall, 2),
        "overhead_percent_counting_analysis": round(100 * (overhead + t.analysis_s) / wall, 2),
        "attempts": len(report.attempts),
        "versions": len(report.versions),
        "status": report.status.value,
        "summary": report.summary,
        "baseline": {"size_mb": base.size_mb, "p95_ms": base.p95_ms, "accuracy": base.accuracy},
        "best": (
            {"size_mb": best.size_mb, "p95_ms": best.p95_ms, "accuracy": best.accuracy}
            if best
            else None
        ),
        "threads": report.environment.threads,
        "train_seconds": round(inputs.train_seconds, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
