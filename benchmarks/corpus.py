"""The real-model corpus, end to end: analyze, a short optimize and an ONNX Runtime deployment of
every model in corpus/manifest.yaml (run `make corpus` first). Prints the Markdown table that
docs/corpus.md quotes and writes benchmarks/results/corpus.json.

Per model: source package and version, exporter, parameters (checked against the manifest's
independent count), family, analyze wall time, the optimize result (p50 speed-up of the chosen
version over the original, size before → after, fidelity) and whether the FP32 ONNX Runtime
deployment validated against its baseline.

Usage:
    .venv/bin/python benchmarks/corpus.py [--only ID ...] [--attempts 4] [--drop 2]
        [--eval-samples N] [--latency-runs N] [--stages analyze optimize deploy]

``--eval-samples`` caps the random fidelity inputs (256 by default; a short search on the large
models uses fewer), ``--stages`` runs a subset of the three stages.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from embodied_ai_architect.testing.corpus import CorpusModel, load_manifest, model_path


def _load(entry: CorpusModel) -> Any:
    from embodied_ai_architect.modelio.signature import parse_input_overrides
    from embodied_ai_architect.schemas.loading import LoadOptions

    return LoadOptions(inputs=parse_input_overrides(entry.inputs), arch=entry.arch)


def _analyze(entry: CorpusModel, ctx: Any) -> dict[str, Any]:
    from embodied_ai_architect.agents.analysis.agent import analyze_model
    from embodied_ai_architect.schemas.analysis import AnalysisRequest

    started = time.perf_counter()
    profile = analyze_model(
        AnalysisRequest(model_path=model_path(entry), load=_load(entry), runs=10),
        ctx,
    )
    return {
        "parameters": profile.parameters,
        "parameters_match": profile.parameters == entry.parameters or entry.parameters == 0,
        "family": profile.family.family.value,
        "family_match": profile.family.family.value == entry.family,
        "analyze_s": round(time.perf_counter() - started, 1),
        "p50_ms": min((s.p50_ms for s in profile.latency), default=None),
        "warnings": profile.warnings,
    }


def _optimize(
    entry: CorpusModel, attempts: int, drop: float, out: Path, samples: int | None, runs: int | None
) -> dict[str, Any]:
    from embodied_ai_architect.pipeline import run_optimize
    from embodied_ai_architect.schemas.constraints import Budget, Constraints
    from embodied_ai_architect.schemas.results import OptimizeRequest

    caps: dict[str, int] = {}
    if samples is not None:
        caps["max_eval_samples"] = samples
    if runs is not None:
        caps["latency_runs"] = runs
    request = OptimizeRequest(
        model_path=model_path(entry),
        load_options=_load(entry),
        constraints=Constraints(max_accuracy_drop=drop, budget=Budget(max_attempts=attempts)),
        out_dir=out,
        **caps,
    )
    report = run_optimize(request)
    base = report.baseline.metrics
    best = report.best.metrics if report.best is not None else None
    return {
        "status": report.status.value,
        "decision": report.decision or report.summary,
        "chosen": report.best.technique if report.best is not None else None,
        "speedup": round(base.p50_ms / best.p50_ms, 2) if best and base and best.p50_ms else None,
        "size_mb": [round(base.size_mb, 2), round(best.size_mb, 2)] if best and base else None,
        "fidelity": best.accuracy if best else None,
        "fidelity_metric": best.accuracy_metric if best else None,
        "attempts": len(report.attempts),
        "held_out": report.held_out.model_dump(mode="json") if report.held_out else None,
        "attempt_reasons": [
            f"{a.technique} {a.status.value}: {a.reason}"[:240] for a in report.attempts
        ],
        "seconds": round(report.timings.total_s, 1),
    }


def _deploy(entry: CorpusModel, out: Path, ctx: Any) -> dict[str, Any]:
    from embodied_ai_architect.agents.deployment.agent import deploy_model
    from embodied_ai_architect.schemas.deployment import DeployRequest, ValidationConfig

    result = deploy_model(
        DeployRequest(
            model_path=model_path(entry),
            target="onnxruntime",
            precision="fp32",
            load_options=_load(entry),
            validation=ValidationConfig(allow_random_inputs=True, num_samples=8),
            out_dir=out,
        ),
        ctx,
    )
    validation = result.validation
    return {
        "passed": bool(validation and validation.passed),
        "max_relative_diff": validation.max_relative_diff if validation else None,
    }


def _stages(entry: CorpusModel, ctx: Any, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stage, run in (
        ("analyze", lambda: _analyze(entry, ctx)),
        (
            "optimize",
            lambda: _optimize(
                entry,
                args.attempts,
                args.drop,
                tmp / "optimize",
                args.eval_samples,
                args.latency_runs,
            ),
        ),
        ("deploy", lambda: _deploy(entry, tmp / "deploy", ctx)),
    ):
        if stage not in args.stages:
            continue
        started = time.perf_counter()
        try:
            out[stage] = run()
        except Exception as exc:  # a benchmark reports every failure and goes on
            out[stage] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        out[stage]["wall_s"] = round(time.perf_counter() - started, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--attempts", type=int, default=4)
    parser.add_argument("--drop", type=float, default=2.0)
    parser.add_argument("--eval-samples", type=int, default=None)
    parser.add_argument("--latency-runs", type=int, default=None)
    parser.add_argument(
        "--stages",
        nargs="+",
        default=["analyze", "optimize", "deploy"],
        choices=["analyze", "optimize", "deploy"],
    )
    args = parser.parse_args()

    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.settings import get_settings
    from embodied_ai_architect.utils.deps import has_package

    manifest = load_manifest()
    ctx = AgentContext(settings=get_settings())
    rows: list[dict[str, Any]] = []
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    partial = results / "corpus.partial.jsonl"
    for entry in manifest.models:
        if args.only and entry.id not in args.only:
            continue
        if entry.requires and not has_package(entry.requires):
            print(f"{entry.id}: skipped (needs {entry.requires})", flush=True)
            continue
        if not model_path(entry).exists():
            print(f"{entry.id}: missing, run `make corpus`", flush=True)
            continue
        row: dict[str, Any] = {"id": entry.id, "exporter": entry.exporter, "task": entry.task}
        if entry.package:
            package = manifest.package(entry.package)
            row["source"] = f"{package.name} {package.version}"
        else:
            row["source"] = f"derived ({entry.derive.recipe if entry.derive else '?'})"
        with tempfile.TemporaryDirectory(prefix="branes-corpus-") as tmp:
            row.update(_stages(entry, ctx, args, Path(tmp)))
        rows.append(row)
        print(json.dumps(row)[:400], flush=True)
        with partial.open("a") as stream:  # a long run keeps every finished row
            stream.write(json.dumps(row, default=str) + "\n")
    print()
    print(f"host: {platform.processor() or platform.machine()}, {_cpu()}")
    print(_table(rows))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "corpus.json").write_text(json.dumps(rows, indent=2, default=str))
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | source | exporter | parameters | family | analyze s | optimize "
        "(chosen, p50 speed-up, size MB, fidelity) | deploy ORT |",
        "|---|---|---|---:|---|---:|---|---|",
    ]
    for row in rows:
        a, o, d = row.get("analyze", {}), row.get("optimize", {}), row.get("deploy", {})
        params = a.get("parameters", a.get("error", "?"))
        if "error" in o:
            opt = f"error: {o['error'][:80]}"
        elif o.get("chosen"):
            size = o["size_mb"]
            fidelity = o["fidelity"]
            opt = (
                f"{o['chosen']}, {o['speedup']}×, {size[0]} → {size[1]}, "
                f"{fidelity:.4f} {o['fidelity_metric'] or ''}"
                if fidelity is not None
                else f"{o['chosen']}, {o['speedup']}×, {size[0]} → {size[1]}"
            )
        else:
            opt = f"{o.get('status')}: original kept"
        dep = "error" if "error" in d else ("validated" if d.get("passed") else "failed")
        lines.append(
            f"| {row['id']} | {row['source']} | {row['exporter']} | {params} | "
            f"{a.get('family', '?')} | {a.get('analyze_s', '?')} | {opt} | {dep} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
