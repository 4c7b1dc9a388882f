"""Results: pick the best version, build the typed report, write report.json / report.html."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from embodied_ai_architect.agents.evaluation.criteria import (
    all_passed,
    failures,
    judge,
    metric_name,
)
from embodied_ai_architect.agents.evaluation.splits import SplitEvaluator
from embodied_ai_architect.agents.planning.skills import SkillRecord
from embodied_ai_architect.errors import EAAError
from embodied_ai_architect.modelio.handle import torch_threads
from embodied_ai_architect.pipeline.files import write_text_atomic
from embodied_ai_architect.pipeline.objective import deficit, explain_choice, pick_best
from embodied_ai_architect.pipeline.pareto import mark_front
from embodied_ai_architect.pipeline.retime import retime_versions
from embodied_ai_architect.schemas.results import (
    ConstraintVerdict,
    HeldOutFigure,
    ModelMemory,
    OptimizeReport,
    ParetoPoint,
    Plan,
    RunStatus,
    SpeedHeadroom,
    StepStatus,
    VersionRecord,
)

if TYPE_CHECKING:
    from embodied_ai_architect.pipeline.state import RunState


def on_target(state: RunState, versions: list[VersionRecord]) -> list[VersionRecord]:
    from embodied_ai_architect.pipeline.deployment import runs_on_target

    kept = [v for v in versions if runs_on_target(state, v)]
    return kept or versions


def choose_best(state: RunState, versions: list[VersionRecord]) -> tuple[VersionRecord, bool]:
    """The fastest version meeting every constraint (then the smallest); else the closest one."""
    c = state.constraints
    base = state.baseline.metrics
    # A named target ships what runs on it: versions left on another runtime only compete
    # when none does (the Deployment stage then converts the winner at FP32).
    versions = on_target(state, versions)
    feasible = [v for v in versions if all_passed(judge(c, base, v.metrics))]
    if len(feasible) > 1:
        # Decide on figures taken in alternation, not on each version's own timing session.
        retimed = {v.id: v for v in retime_versions(state, feasible)}
        versions = [retimed.get(v.id, v) for v in versions]
        feasible = [v for v in versions if all_passed(judge(c, base, v.metrics))]
    if feasible:
        # The run's objective (default: fastest by median, near-ties within the noise margin to
        # the smaller model), never a version another feasible one dominates.
        return pick_best(c, [(v.metrics, v) for v in feasible], c.objective.value), True
    accurate = [
        v
        for v in versions
        if all(x.passed for x in judge(c, base, v.metrics) if x.constraint == "accuracy")
    ] or versions
    return min(accurate, key=lambda v: (deficit(c, v.metrics), v.metrics.p95_ms)), False


def _points(
    state: RunState, versions: list[VersionRecord], judged: dict[str, list[ConstraintVerdict]]
) -> list[ParetoPoint]:
    points = [
        ParetoPoint(
            label=v.id,
            version=v.id,
            technique=v.technique or "original",
            size_mb=v.metrics.size_mb,
            p95_ms=v.metrics.p95_ms,
            p50_ms=v.metrics.p50_ms,
            accuracy=v.metrics.accuracy,
            feasible=all_passed(judged[v.id]),
            on_front=False,
        )
        for v in versions
    ]
    for attempt in state.attempts:
        if attempt.metrics is None or attempt.status is StepStatus.ACCEPTED:
            continue
        points.append(
            ParetoPoint(
                label=f"a{attempt.index}",
                attempt=attempt.index,
                technique=attempt.technique,
                size_mb=attempt.metrics.size_mb,
                p95_ms=attempt.metrics.p95_ms,
                p50_ms=attempt.metrics.p50_ms,
                accuracy=attempt.metrics.accuracy,
                feasible=all_passed(attempt.verdicts),
                on_front=False,
            )
        )
    return mark_front(points)


def held_out_figure(state: RunState, best: VersionRecord) -> HeldOutFigure | None:
    """Score the original and the chosen version on the held-out samples (None: no such set)."""
    evaluator = state.evaluator
    if not isinstance(evaluator, SplitEvaluator) or evaluator.held_out is None:
        return None
    reference = state.registry.handle("v0")
    started = time.perf_counter()
    with torch_threads(state.threads):
        base = evaluator.evaluate_held_out(reference, reference=reference)
        chosen = (
            base
            if best.id == "v0"
            else evaluator.evaluate_held_out(state.registry.handle(best.id), reference=reference)
        )
    state.timings.measurement_s += time.perf_counter() - started
    assert base is not None and chosen is not None
    floor = state.constraints.accuracy_floor(base.value)
    return HeldOutFigure(
        metric=chosen.metric,
        samples=chosen.samples,
        baseline=base.value,
        best=chosen.value,
        selection_best=best.metrics.accuracy,
        passed=not state.constraints.has_accuracy_bound() or chosen.value >= floor - 1e-6,
        split=dict(evaluator.sizes),
    )


def model_memory(state: RunState, best: VersionRecord) -> ModelMemory:
    """Own footprint of v0 and the chosen version, each in a fresh process."""
    from embodied_ai_architect.agents.evaluation.footprint import measure_footprint

    figures: dict[str, float] = {}
    started = time.perf_counter()
    try:
        for label, record in (("baseline_mb", state.baseline), ("best_mb", best)):
            if label == "best_mb" and record.id == state.baseline.id:
                figures[label] = figures["baseline_mb"]
                continue
            inputs = list(state.registry.handle(record.id).inputs)
            figures[label] = measure_footprint(
                record.path, record.sha256, inputs, threads=state.threads
            )
    except EAAError as exc:
        return ModelMemory(
            baseline_mb=figures.get("baseline_mb"),
            best_mb=figures.get("best_mb"),
            error=f"{exc.message} ({exc.hint})",
        )
    finally:
        state.timings.measurement_s += time.perf_counter() - started
    return ModelMemory(baseline_mb=figures.get("baseline_mb"), best_mb=figures.get("best_mb"))


def speed_headroom(state: RunState, best: VersionRecord) -> SpeedHeadroom:
    """How much of the chosen version's time is arithmetic, against this host's GEMM peaks."""
    from embodied_ai_architect.agents.evaluation.headroom import measure_gemm_peaks
    from embodied_ai_architect.agents.evaluation.headroom import speed_headroom as measure
    from embodied_ai_architect.pipeline.deployment import version_precision

    m = best.metrics
    threads = m.threads or state.threads
    macs = state.profile.macs if state.profile and _keeps_shapes(state, best) else None
    started = time.perf_counter()
    try:
        return measure(
            version=best.id,
            handle=state.registry.handle(best.id),
            precision=version_precision(state, best).value,
            p50_ms=m.p50_ms,
            macs=macs,
            peaks=measure_gemm_peaks(threads),
        )
    finally:
        state.timings.measurement_s += time.perf_counter() - started


def _keeps_shapes(state: RunState, version: VersionRecord) -> bool:
    """Whether the analysis' MAC count of the original holds for ``version``.

    Quantized or runtime-only versions keep the weights' shapes whatever their parameter count
    (scales and zero points weigh a lot on a small model); other lineages (graph clean-ups,
    pruning, distillation) are judged by a parameter count within 2 % of the original's.
    """
    from embodied_ai_architect.agents.optimization.base import TechniqueFamily, technique_family

    keeping = {None, TechniqueFamily.QUANTIZATION, TechniqueFamily.RUNTIME}
    if all(technique_family(r.technique) in keeping for r in state.registry.lineage(version.id)):
        return True
    base = state.baseline.metrics.parameters
    return abs(version.metrics.parameters - base) <= 0.02 * max(base, 1)


def build_report(
    state: RunState,
    *,
    run_id: str,
    model_id: int,
    plans: list[Plan],
    forced: RunStatus | None,
    evidence: list[str],
    skipped: list[str],
    started_at: datetime,
    chosen: str | None = None,
) -> OptimizeReport:
    """``chosen``: the version that is the result (a given plan's output), instead of a choice."""
    versions = state.registry.records()
    if chosen is not None:
        best = state.registry.get(chosen)
        feasible = all_passed(judge(state.constraints, state.baseline.metrics, best.metrics))
    else:
        best, feasible = choose_best(state, versions)
    versions = state.registry.records()  # with the figures the choice was made on
    base = state.registry.get(state.baseline.id)
    status = forced or (RunStatus.SUCCEEDED if feasible else RunStatus.CONSTRAINTS_NOT_MET)
    # Judged once, on the final (re-timed) figures, and stored on the version rows: get-run and
    # compare read these instead of judging again with whatever the code does later.
    judged = {v.id: judge(state.constraints, base.metrics, v.metrics) for v in versions}
    state.registry.record_verdicts(judged)
    verdicts = judged[best.id]
    if status is RunStatus.UNREACHABLE:
        summary = "stopped early, constraints unreachable: " + "; ".join(evidence)
    else:
        m, b = best.metrics, base.metrics
        summary = (
            f"{best.id} ({best.technique or 'original'}): "
            f"{b.size_bytes / max(m.size_bytes, 1):.1f}× smaller, "
            f"{b.p50_ms / max(m.p50_ms, 1e-9):.1f}× faster (p50; p95 {b.p95_ms:.3g} → "
            f"{m.p95_ms:.3g} ms)"
        )
        if m.accuracy is not None and b.accuracy is not None:
            # Named as the verdicts name it: success, top-1 accuracy, fidelity to the original.
            name = metric_name(m.accuracy_metric)
            summary += (
                f", {name} {b.accuracy * 100:.2f} → {m.accuracy * 100:.2f} % "
                f"({(m.accuracy - b.accuracy) * 100:+.2f} points)"
            )
        summary += "; meets all constraints" if feasible else f"; not met: {failures(verdicts)}"
    held_out = None
    if status is not RunStatus.UNREACHABLE:
        held_out = held_out_figure(state, best)
        if held_out is not None:
            summary += (
                f"; held-out {held_out.metric} {held_out.baseline * 100:.2f} → "
                f"{held_out.best * 100:.2f} % on {held_out.samples} samples"
                + (
                    ""
                    if held_out.passed
                    else " (below the bound: the selection samples flattered it)"
                )
            )
    memory = None
    if status is not RunStatus.UNREACHABLE and state.request.model_memory:
        memory = model_memory(state, best)
    headroom = None
    if status is not RunStatus.UNREACHABLE and state.request.speed_headroom:
        headroom = speed_headroom(state, best)
    c = state.constraints
    decision = ""
    if status is not RunStatus.UNREACHABLE:
        decision = explain_choice(
            c,
            best.id,
            best.metrics,
            [(v.id, v.metrics) for v in versions if all_passed(judged[v.id])],
            technique=best.technique,
            met=feasible,
        )
    # The held-out and memory figures above took time too: the total includes them.
    state.timings.total_s = time.perf_counter() - state.started
    return OptimizeReport(
        run_id=run_id,
        model_id=model_id,
        status=status,
        summary=summary,
        decision=decision,
        request=state.request,
        model_family=state.profile.family.family.value if state.profile else None,
        environment=state.environment,
        baseline=base,
        best=None if status is RunStatus.UNREACHABLE else best,
        best_verdicts=verdicts,
        resolution=state.resolution,
        held_out=held_out,
        memory=memory,
        headroom=headroom,
        plans=plans,
        chosen_plan=plans[0] if plans and status is not RunStatus.UNREACHABLE else None,
        replans=state.replans,
        attempts=state.attempts,
        versions=versions,
        points=_points(state, versions, judged),
        evidence=evidence + [f"not planned: {s}" for s in skipped],
        timings=state.timings,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


def write_reports(report: OptimizeReport, out_dir: Path) -> OptimizeReport:
    """Copy the best artifact out, write report.json and report.html; returns the final report."""
    from embodied_ai_architect.pipeline.report import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Path] = {
        "report_json": out_dir / "report.json",
        "report_html": out_dir / "report.html",
    }
    if report.best is not None and report.best.id != "v0":
        source = Path(report.best.path)
        suffix = ".ir.tar" if source.name.endswith(".ir.tar") else source.suffix
        target = out_dir / f"optimized{suffix}"
        shutil.copyfile(source, target)
        artifacts["model"] = target
    report = report.model_copy(update={"artifacts": artifacts})
    write_text_atomic(artifacts["report_json"], report.model_dump_json(indent=2))
    write_text_atomic(artifacts["report_html"], render_html(report))
    return report


def learned_skills(report: OptimizeReport, *, family: str) -> list[SkillRecord]:
    """One skill per measured attempt: effect relative to the version it was applied to."""
    versions = {v.id: v for v in report.versions}
    skills: list[SkillRecord] = []
    for attempt in report.attempts:
        parent = versions.get(attempt.parent_version)
        if parent is None:
            continue
        effect: dict[str, float] = {}
        if attempt.metrics is not None:
            p, m = parent.metrics, attempt.metrics
            effect = {
                "size_factor": m.size_bytes / max(p.size_bytes, 1),
                "latency_factor": m.p95_ms / max(p.p95_ms, 1e-9),
            }
            if m.accuracy is not None and p.accuracy is not None:
                effect["accuracy_delta"] = m.accuracy - p.accuracy
        skills.append(
            SkillRecord(
                family=family,
                target=report.request.constraints.target,
                technique=attempt.technique,
                config=attempt.config,
                effect=effect,
                passed=attempt.status is StepStatus.ACCEPTED,
            )
        )
    return skills
