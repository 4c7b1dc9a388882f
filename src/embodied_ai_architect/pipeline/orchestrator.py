"""The orchestrator: runs one optimize job through every stage and records all of it.

Stages and their share of the progress bar: intake 0–5 %, analysis 5–25 %, baseline and
planning 25–30 %, optimization 30–90 %, deployment 90–97 % (package and validate the chosen
version for the target), results 97–100 %.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from embodied_ai_architect.agents.evaluation.agent import build_evaluator
from embodied_ai_architect.agents.evaluation.metrics import measure_version
from embodied_ai_architect.agents.evaluation.resolution import bound_resolution
from embodied_ai_architect.agents.planning.feasibility import unreachable_evidence
from embodied_ai_architect.agents.planning.planner import (
    PlanningInput,
    applicable_techniques,
    make_plans,
)
from embodied_ai_architect.agents.planning.skills import summarize
from embodied_ai_architect.errors import EAAError, InputError, PlanningError
from embodied_ai_architect.modelio.handle import ModelHandle, TorchModelHandle
from embodied_ai_architect.pipeline.bus import EventBus
from embodied_ai_architect.pipeline.deployment import (
    FixedPlan,
    deploy_chosen,
    deployment_summary,
    planning_facts,
)
from embodied_ai_architect.pipeline.parallel import EvaluatorArgs
from embodied_ai_architect.pipeline.recorder import RunRecorder
from embodied_ai_architect.pipeline.results import build_report, learned_skills, write_reports
from embodied_ai_architect.pipeline.search import run_step
from embodied_ai_architect.pipeline.state import RunState
from embodied_ai_architect.pipeline.versions import VersionRegistry, pack_artifact
from embodied_ai_architect.schemas.jobs import JobStatus
from embodied_ai_architect.schemas.profile import ModelProfile
from embodied_ai_architect.schemas.progress import EventKind, ProgressSink
from embodied_ai_architect.schemas.results import (
    OptimizeReport,
    OptimizeRequest,
    Plan,
    RunStatus,
)
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import ArtifactStore, sha256_file
from embodied_ai_architect.store.repo import jobs as job_repo
from embodied_ai_architect.store.repo import models as model_repo
from embodied_ai_architect.store.repo import versions as version_repo


class Orchestrator:
    def __init__(
        self,
        request: OptimizeRequest,
        *,
        settings: Settings,
        sink: ProgressSink,
        job_id: str | None = None,
        owns_job: bool | None = None,
        fixed: FixedPlan | None = None,
    ):
        self.request = request
        self.settings = settings
        self.sink = sink
        self.job_id = job_id
        self.owns_job = owns_job
        # A plan given by the caller (``branes deploy run``): run as it is, no search.
        self.fixed = fixed

    def run(self) -> OptimizeReport:
        bus = EventBus(self.sink)
        state = RunState(self.request, self.settings, bus)  # validates the constraints first
        started_at = datetime.now(UTC)
        check_paths(self.request)
        from embodied_ai_architect.modelio.loader import load_model

        bus.emit(0, "intake", f"loading {self.request.model_path.name}")
        original = (
            self.fixed.original
            if self.fixed is not None
            else load_model(
                self.request.model_path, self.request.load_options, threads=state.threads
            )
        )
        db = Database.from_settings(self.settings)
        db.upgrade()
        artifacts = ArtifactStore(self.settings.ensure_workspace())
        state.recorder = RunRecorder(
            db,
            job_id=self.job_id,
            request=self.request.model_dump(mode="json"),
            owns_job=self.owns_job,
        )
        bus.subscribe(state.recorder.event)
        run_id = state.recorder.job_id
        out_dir = self.request.out_dir or self.settings.workspace / "runs" / run_id
        state.workdir = self.settings.workspace / "work" / run_id
        try:
            report = self._run(state, original, db, artifacts, run_id, out_dir, started_at)
        except PlanningError as exc:
            state.recorder.finish(status=JobStatus.FAILED, result=None, error=exc.to_dict())
            raise
        except BaseException as exc:
            error = exc.to_dict() if isinstance(exc, EAAError) else {"message": str(exc)}
            state.recorder.finish(status=JobStatus.FAILED, result=None, error=error)
            raise
        finally:
            import shutil

            if state.pool is not None:
                state.pool.close()
            shutil.rmtree(state.workdir, ignore_errors=True)
        state.recorder.finish(
            status=JobStatus.SUCCEEDED,
            result={
                "status": report.status.value,
                "report": str(report.artifacts.get("report_json")),
            },
            error=None,
        )
        return report

    def _run(
        self,
        state: RunState,
        original: ModelHandle,
        db: Database,
        artifacts: ArtifactStore,
        run_id: str,
        out_dir: Path,
        started_at: datetime,
    ) -> OptimizeReport:
        bus = state.bus
        request = self.request
        with db.session() as session:
            # A service job names the uploaded model: the run's versions belong to it and its
            # stored v0 is the baseline. A CLI run registers the file as a model of its own.
            uploaded = job_repo.get_job(session, job_id=run_id).model_id
            baseline_row = (
                version_repo.get_version_by_number(session, model_id=uploaded, version=0).id
                if uploaded is not None
                else None
            )
            model_id = (
                uploaded
                or model_repo.create_model(
                    session,
                    name=original.name,
                    format=original.source_format.value,
                    sha256=sha256_file(request.model_path)
                    if request.model_path.is_file()
                    else "directory",
                    size_bytes=request.model_path.stat().st_size,
                    path=str(request.model_path),
                ).id
            )
        state.registry = VersionRegistry(
            db, artifacts, model_id=model_id, job_id=run_id, baseline_row=baseline_row
        )
        if self.fixed is None:  # a given plan needs no profile to plan from
            bus.emit(5, "analysis", "analyzing the model")
            started = time.perf_counter()
            state.profile = _analyze(original, state)
            state.timings.analysis_s = time.perf_counter() - started
        family = state.profile.family.family.value if state.profile else "other"
        bus.emit(25, "analysis", f"family: {family}", data={"family": family})
        if request.train_data is not None:
            state.training_data = load_training(request.train_data)
        state.evaluator_args = EvaluatorArgs(
            constraints=state.constraints,
            eval_data=request.eval_data,
            eval_sim=request.eval_sim,
            max_samples=request.max_eval_samples,
            seed=request.seed,
            detector=family == "detector",
            head=state.profile.family.head if state.profile else None,
            metric=request.metric,
            has_calibration_data=request.calibration_data is not None,
        )
        # Search workers build theirs from the same arguments (pipeline/parallel.py).
        state.evaluator = build_evaluator(reference=original, **dict(state.evaluator_args))
        bus.emit(26, "evaluation", "measuring the original (v0)")
        packed = pack_artifact(original, state.workdir / "v0")
        v0_metrics = measure_version(
            original,
            packed,
            evaluator=state.evaluator,
            reference=original,
            threads=state.threads,
            runs=request.latency_runs,
        )
        state.timings.measurement_s += v0_metrics.measure_seconds
        state.baseline = state.registry.register(
            original, packed, parent=None, technique=None, config={}, metrics=v0_metrics
        )
        selection = state.evaluator.screen_size() if state.evaluator else 0
        state.resolution = bound_resolution(state.constraints, v0_metrics, selection)
        if state.resolution is not None and not state.resolution.resolves:
            bus.emit(27, "evaluation", state.resolution.message, kind=EventKind.WARNING)
        bus.emit(
            28,
            "evaluation",
            f"v0: p95 {v0_metrics.p95_ms:.3g} ms, {v0_metrics.size_mb:.3g} MB"
            + (f", accuracy {v0_metrics.accuracy * 100:.2f} %" if v0_metrics.accuracy else ""),
            kind=EventKind.METRIC,
            data={"metrics": v0_metrics.model_dump(mode="json")},
        )
        skills = summarize(state.recorder.skills(family=family, target=state.constraints.target))
        target_runtime, target_takes, target_step = planning_facts(state.target, original)
        planning = PlanningInput(
            profile=state.profile,
            family=family,
            constraints=state.constraints,
            baseline=v0_metrics,
            framework=original.framework.value,
            has_training_data=state.training_data is not None,
            has_calibration_data=request.calibration_data is not None
            or request.eval_data is not None
            or request.eval_sim is not None,
            skills=skills,
            torch_graph=isinstance(original, TorchModelHandle) and original.is_graph,
            target=state.target.name,
            target_runtime=target_runtime,
            target_takes=target_takes,
            target_step=target_step,
        )
        if self.fixed is not None:
            plans, skipped, evidence = [self.fixed.plan], list[str](), list[str]()
        else:
            plans, skipped = make_plans(planning)
            usable, _ = applicable_techniques(planning)
            evidence = unreachable_evidence(planning, usable)
        finish = _Finisher(state, run_id, model_id, out_dir, started_at, plans, self.fixed)
        if evidence:
            report = finish(RunStatus.UNREACHABLE, evidence=evidence, skipped=skipped)
            raise PlanningError(
                "the constraints cannot be met: " + "; ".join(evidence),
                hint="relax the limits (see the evidence) or give training data so structural "
                "methods (pruning, distillation) can run",
                details={"evidence": evidence, "report": str(report.artifacts.get("report_json"))},
            )
        chosen = plans[0] if plans else None
        if chosen is not None:
            state.recorder.plan(chosen, rationale=chosen.rationale)
            bus.emit(
                30,
                "planning",
                f"plan {chosen.title}: " + " → ".join(s.id for s in chosen.steps),
                kind=EventKind.DECISION,
                data={"plan": chosen.model_dump(mode="json"), "skipped": skipped},
            )
            steps = chosen.steps
            for position, step in enumerate(steps):
                low = 30 + 60 * position / len(steps)
                high = 30 + 60 * (position + 1) / len(steps)
                state.step_low = low
                bus.emit(
                    low, "optimization", f"step {step.id}: {step.rationale[:80]}", step=step.id
                )
                run_step(state, step, (low, high), steps[position + 1 :])
                state.recorder.step_status(chosen, position, step.status)
        return finish(None, evidence=[], skipped=skipped)


class _Finisher:
    """Picks the result, writes reports and learned skills (shared by normal and early stops)."""

    def __init__(
        self,
        state: RunState,
        run_id: str,
        model_id: int,
        out_dir: Path,
        started_at: datetime,
        plans: list[Plan],
        fixed: FixedPlan | None = None,
    ):
        self.state, self.run_id, self.model_id = state, run_id, model_id
        self.out_dir, self.started_at, self.plans = out_dir, started_at, plans
        self.fixed = fixed

    def __call__(
        self, forced: RunStatus | None, *, evidence: list[str], skipped: list[str]
    ) -> OptimizeReport:
        state = self.state
        state.bus.emit(90, "results", "writing reports")
        state.timings.total_s = time.perf_counter() - state.started
        report = build_report(
            state,
            run_id=self.run_id,
            model_id=self.model_id,
            plans=self.plans,
            forced=forced,
            evidence=evidence,
            skipped=skipped,
            started_at=self.started_at,
            # A given plan's result is its last output, not a choice among versions.
            chosen=state.current if self.fixed is not None else None,
        )
        deployable = self.fixed is None or self.fixed.completed()
        if report.best is not None and forced is None and deployable:
            report.deployment = deploy_chosen(
                state,
                report.best,
                self.out_dir,
                state.target,
                self.fixed.deploy if self.fixed is not None else None,
            )
            if report.deployment is not None:
                report.summary += "; " + deployment_summary(report.deployment)
        report = write_reports(report, self.out_dir)
        family = report.model_family or "other"
        state.recorder.learn(learned_skills(report, family=family))
        state.bus.emit(
            100,
            "results",
            report.summary,
            kind=EventKind.RESULT,
            data={"status": report.status.value, "best": report.best.id if report.best else None},
        )
        return report


def check_paths(request: OptimizeRequest) -> None:
    """Every file the request names exists (InputError naming the first missing one)."""
    for label, path in (
        ("model", request.model_path),
        ("evaluation data", request.eval_data),
        ("calibration data", request.calibration_data),
        ("training data", request.train_data),
    ):
        if path is not None and not Path(path).exists():
            raise InputError(f"{label} {str(path)!r} does not exist", hint="check the path")


def load_training(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["x"], data["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"cannot read training data {path.name!r}: {exc}",
            hint="save numpy.savez(path, x=inputs, y=labels)",
        ) from exc


def _analyze(handle: ModelHandle, state: RunState) -> ModelProfile | None:
    """The Analysis agent's profile; None (with a warning) while that agent is not installed."""
    try:
        from embodied_ai_architect.agents.analysis import analyze_model  # type: ignore[attr-defined]
        from embodied_ai_architect.schemas.analysis import AnalysisRequest
    except ImportError:
        state.bus.emit(
            5,
            "analysis",
            "analysis agent unavailable: planning without a profile",
            kind=EventKind.WARNING,
        )
        return None
    from embodied_ai_architect.agents.base import AgentContext

    ctx = AgentContext(settings=state.settings, sink=state.bus, seed=state.seed, span=(5, 25))
    request = AnalysisRequest(
        handle=handle, measure_latency=False, sensitivity_top_k=8, threads=state.threads
    )
    profile: ModelProfile = analyze_model(request, ctx)
    return profile


__all__ = ["Orchestrator", "RunState"]
