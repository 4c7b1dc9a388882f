"""Constraint-aware architecture search over students of the teacher's family (Optuna).

Each trial samples an architecture (depth, width, heads, ...) from the family's search space,
builds it, and checks the limits before spending any training on it: parameter count, ONNX file
size and ONNX Runtime latency (batch 1, ``ctx.threads``). Violators are pruned with the reason
recorded. Survivors are distilled briefly from the teacher and scored on a held-out split
(accuracy with labels, teacher agreement for logits, else negative KD loss). The sampler is
seeded, so the same seed gives the same trials (latency limits aside: timings are noisy).

Parallel trials (``parallel_trials``, default: the run's search workers): the sampler is asked
for that many trials at once; their limits are checked here, one at a time (the latency check
times the student, and timings sharing cores corrupt each other), the survivors are distilled
together in spawned processes (teacher, student and data go as files), and the results are
told to the sampler in trial-number order. The trials then depend on the seed and on this
number, not on which trial finished first.

Example:
    >>> apply_technique("nas_search", handle, ctx, {"max_params": 50_000, "n_trials": 12})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.techniques.distillation import (
    DistillConfig,
    distill_into,
)
from embodied_ai_architect.agents.optimization.torch_helpers import (
    clone_module,
    derived_handle,
    file_size,
    parameter_count,
    require_torch_handle,
    save_module,
)
from embodied_ai_architect.errors import ConfigError, TechniqueError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle, TorchModelHandle
from embodied_ai_architect.schemas.progress import ProgressEvent

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from embodied_ai_architect.agents.optimization.distill_utils import DistillData
    from embodied_ai_architect.agents.optimization.student_families import StudentFamily


class NasSearchConfig(TechniqueConfig):
    """Search budget, limits and the per-trial distillation."""

    technique: ClassVar[str] = "nas_search"

    n_trials: int = Field(12, ge=1, le=1000, description="Maximum number of trials.")
    timeout_s: float | None = Field(
        600.0, gt=0, description="Stop starting new trials after this many seconds."
    )
    max_params: int | None = Field(None, ge=1, description="Reject students with more parameters.")
    max_size_mb: float | None = Field(
        None, gt=0, description="Reject students whose ONNX file exceeds this size (MB, 1e6 B)."
    )
    max_latency_ms: float | None = Field(
        None, gt=0, description="Reject students slower than this (ORT p50, batch 1, ctx.threads)."
    )
    space: dict[str, list[int]] | None = Field(
        None, description="Override the family's search space (constructor kwarg → choices)."
    )
    latency_runs: int = Field(20, ge=5, le=500, description="Timed runs per latency check.")
    parallel_trials: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Trials asked together and distilled in parallel processes, told in "
        "trial-number order (None: the run's search workers, ctx.extras['search_workers'], "
        "else 1 = each trial informed by all before it). The trials depend on this number.",
    )
    distill: DistillConfig = Field(
        default_factory=lambda: DistillConfig.model_validate({"epochs": 3, "patience": 2}),
        description="Distillation settings used to score every trial (keep epochs short).",
    )


class _Limits:
    def __init__(self, config: NasSearchConfig):
        self.config = config

    def check(self, name: str, value: float) -> str | None:
        limit = getattr(self.config, name)
        if limit is not None and value > limit:
            return f"{name.removeprefix('max_')} {value:.4g} > limit {limit:.4g}"
        return None


def _space(
    family: StudentFamily, teacher: nn.Module, config: NasSearchConfig
) -> dict[str, list[int]]:
    space = dict(config.space) if config.space is not None else dict(family.search_space)
    known = family.read(teacher)
    unknown = [name for name in space if name not in known]
    empty = [name for name, choices in space.items() if not choices]
    if unknown or empty or not space:
        raise ConfigError(
            f"invalid search space for the {family.name} family: unknown {unknown}, empty {empty}",
            hint=f"search over the constructor kwargs {sorted(known)} with non-empty choice lists",
        )
    return space


def _score(outcome: Any) -> float:
    if outcome.val_accuracy is not None:
        return float(outcome.val_accuracy)
    if outcome.val_agreement is not None:
        return float(outcome.val_agreement)
    return -float(min(outcome.val_losses))


@register_technique(
    NasSearchConfig,
    TechniqueManifest(
        family=TechniqueFamily.NAS,
        description="Optuna search over student architectures under params / size / latency "
        "limits; each trial scored after a short distillation.",
        input_frameworks=[Framework.TORCH],
        output_framework=Framework.TORCH,
        runtime="torch",
        model_families=["cnn", "resnet", "vit", "detector", "mlp_policy", "transformer_policy"],
        needs_data="training",
        requires=["torch", "optuna", "onnxruntime"],
        needs_eager_module=True,
    ),
)
def nas_search(
    handle: ModelHandle, config: NasSearchConfig, ctx: TechniqueContext
) -> TechniqueResult:
    import optuna

    from embodied_ai_architect.agents.optimization.distill_utils import distill_data
    from embodied_ai_architect.agents.optimization.student_families import family_of

    if config.max_params is None and config.max_size_mb is None and config.max_latency_ms is None:
        raise ConfigError(
            "nas_search needs at least one limit: max_params, max_size_mb or max_latency_ms",
            hint="state what the student must fit, e.g. {'max_latency_ms': 5}",
        )
    source = require_torch_handle(handle, "nas_search")
    teacher = clone_module(source)
    family = family_of(teacher)
    space = _space(family, teacher, config)
    data = distill_data(source, ctx, config.distill.num_samples)
    search = _Search(source, teacher, family, space, data, config, ctx)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=ctx.seed)
    )
    batch = config.parallel_trials or int(ctx.extras.get("search_workers", 1))
    if batch <= 1:
        study.optimize(search.objective, n_trials=config.n_trials, timeout=config.timeout_s)
    else:
        _optimize_in_batches(study, search, batch)
    ctx.path("trials.json").write_text(json.dumps(search.records, indent=2))
    if search.best is None:
        reasons = sorted({r.get("reason", r["status"]) for r in search.records})
        raise TechniqueError(
            f"none of {len(search.records)} trials met the limits ({'; '.join(reasons[:5])})",
            hint="relax the limits or search smaller widths / depths via `space`",
            details={"trials": search.records},
        )
    best_record, student = search.best
    path = save_module(student, source, ctx.path("nas_best.pt2"))
    metrics: dict[str, float] = {
        "trials": float(len(search.records)),
        "trials_completed": float(sum(r["status"] == "complete" for r in search.records)),
        "trials_rejected": float(sum(r["status"] == "rejected" for r in search.records)),
        "best_score": best_record["score"],
        "best_params": float(best_record["params"]),
        "best_size_mb": best_record["size_mb"],
        "best_latency_ms": best_record["latency_ms"],
        "params_teacher": float(parameter_count(teacher)),
    }
    for record in search.records:
        if record["status"] == "complete":
            metrics[f"trial_{record['number']}_score"] = record["score"]
    arch = ", ".join(f"{k}={v}" for k, v in best_record["arch"].items())
    return TechniqueResult(
        handle=derived_handle(
            source, student, suffix="nas", path=path, metadata={"nas_arch": best_record["arch"]}
        ),
        changes=[
            f"searched {len(search.records)} {family.name} students "
            f"({int(metrics['trials_rejected'])} rejected by the limits); best: {arch} "
            f"({best_record['params']:,} params, {best_record['latency_ms']:.3g} ms, "
            f"score {best_record['score']:.4g})"
        ],
        warnings=["scored on synthetic inputs: no training or calibration data"]
        if data.source == "synthetic inputs"
        else [],
        metrics=metrics,
    )


class _Search:
    """The trial objective plus everything it records."""

    def __init__(
        self,
        source: TorchModelHandle,
        teacher: nn.Module,
        family: StudentFamily,
        space: dict[str, list[int]],
        data: DistillData,
        config: NasSearchConfig,
        ctx: TechniqueContext,
    ):
        self.source, self.teacher, self.family, self.space = source, teacher, family, space
        self.data, self.config, self.ctx = data, config, ctx
        self.limits = _Limits(config)
        self.base = family.read(teacher)
        self.records: list[dict[str, Any]] = []
        self.best: tuple[dict[str, Any], nn.Module] | None = None

    def _reject(self, record: dict[str, Any], status: str, reason: str) -> None:
        import optuna

        record.update(status=status, reason=reason)
        self.ctx.emit(
            100 * len(self.records) / self.config.n_trials,
            f"trial {record['number']} {status}: {reason}",
            {"trial": record},
        )
        raise optuna.TrialPruned(reason)

    def objective(self, trial: optuna.Trial) -> float:
        record, student = self.check(trial)
        outcome = distill_into(
            self.teacher,
            student,
            self.data,
            self.config.distill,
            self.ctx,
            checkpoint_name=f"trials/trial_{trial.number}.pt",
            span=(100 * len(self.records[:-1]) / self.config.n_trials,) * 2,
        )
        return self.complete(record, student, _score(outcome), len(outcome.val_losses))

    def complete(
        self, record: dict[str, Any], student: nn.Module, score: float, epochs: int
    ) -> float:
        record.update(status="complete", score=score, epochs=epochs)
        if self.best is None or record["score"] > self.best[0]["score"]:
            self.best = (record, student)
        self.ctx.emit(
            100 * len(self.records) / self.config.n_trials,
            f"trial {record['number']}: {record['arch']} → score {record['score']:.4g}",
            {"trial": record},
        )
        return float(record["score"])

    def check(self, trial: optuna.Trial) -> tuple[dict[str, Any], nn.Module]:
        """Sample and build the trial's student and check the limits (optuna.TrialPruned when
        it violates one); returns its record and the untrained student."""
        import torch

        from embodied_ai_architect.agents.evaluation.latency import measure_latency
        from embodied_ai_architect.modelio.export import export_onnx

        arch = {
            name: trial.suggest_categorical(name, choices) for name, choices in self.space.items()
        }
        record: dict[str, Any] = {"number": trial.number, "arch": arch, "status": "running"}
        self.records.append(record)
        kwargs = {**self.base, **arch}
        if not self.family.valid(kwargs):
            self._reject(record, "invalid", f"incompatible choices {arch}")
        torch.manual_seed(self.ctx.seed + trial.number)
        student = self.family.build(**kwargs).eval()
        record["params"] = parameter_count(student)
        if reason := self.limits.check("max_params", record["params"]):
            self._reject(record, "rejected", reason)
        trial_dir = self.ctx.path("trials")
        candidate = derived_handle(self.source, student, suffix=f"trial{trial.number}", path=None)
        onnx_handle = export_onnx(
            candidate, trial_dir / f"trial_{trial.number}.onnx", threads=self.ctx.threads
        )
        record["size_mb"] = file_size(onnx_handle.onnx_path) / 1e6
        if reason := self.limits.check("max_size_mb", record["size_mb"]):
            self._reject(record, "rejected", reason)
        stats = measure_latency(
            onnx_handle, threads=self.ctx.threads, warmup=3, runs=self.config.latency_runs
        )
        record["latency_ms"] = stats.p50_ms
        if reason := self.limits.check("max_latency_ms", stats.p50_ms):
            self._reject(record, "rejected", reason)
        return record, student


def _optimize_in_batches(study: optuna.Study, search: _Search, batch: int) -> None:
    """``study.optimize`` with ``batch`` trials asked at once and distilled in parallel."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np
    import optuna
    import torch

    ctx, config = search.ctx, search.config
    # Everything a worker needs goes as files: the teacher, the data, each trial's student.
    teacher_path = ctx.path("nas_teacher.pt")
    torch.save(search.teacher, teacher_path)
    data = search.data
    data_path = ctx.path("nas_data.npz")
    arrays: dict[str, Any] = {"x": data.x} if data.y is None else {"x": data.x, "y": data.y}
    np.savez(data_path, **arrays)
    started, asked = time.monotonic(), 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=batch, mp_context=context) as pool:
        while asked < config.n_trials and (
            config.timeout_s is None or time.monotonic() - started < config.timeout_s
        ):
            trials = [study.ask() for _ in range(min(batch, config.n_trials - asked))]
            asked += len(trials)
            checked: list[tuple[optuna.Trial, dict[str, Any], Any]] = []
            for trial in trials:  # limits, latency included, one at a time here
                try:
                    record, student = search.check(trial)
                except optuna.TrialPruned:
                    checked.append((trial, search.records[-1], None))
                    continue
                path = ctx.path(f"trials/trial_{trial.number}_init.pt")
                torch.save(student, path)
                job = _TrialJob(
                    number=trial.number,
                    teacher=teacher_path,
                    student=path,
                    data=data_path,
                    data_source=data.source,
                    distill=config.distill,
                    workdir=ctx.workdir,
                    seed=ctx.seed,
                    threads=ctx.threads,
                )
                checked.append((trial, record, pool.submit(_distill_trial, job)))
            for trial, record, future in checked:  # told in trial-number order
                if future is None:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    continue
                done: _TrialDone = future.result()
                for event in done.events:
                    ctx.sink(event)
                student = torch.load(done.student, weights_only=False)  # written by our worker
                study.tell(trial, search.complete(record, student, done.score, done.epochs))


class _TrialJob(BaseModel):
    number: int
    teacher: Path
    student: Path
    data: Path
    data_source: str
    distill: DistillConfig
    workdir: Path
    seed: int
    threads: int


class _TrialDone(BaseModel):
    score: float
    epochs: int
    student: Path
    events: list[ProgressEvent]


def _distill_trial(job: _TrialJob) -> _TrialDone:
    """One trial's distillation, in a worker process (files in, a file and a score out)."""
    import numpy as np
    import torch

    from embodied_ai_architect.agents.optimization.distill_utils import DistillData
    from embodied_ai_architect.modelio.handle import torch_threads

    events: list[ProgressEvent] = []

    def collect(event: ProgressEvent) -> None:  # replayed by the parent, in trial order
        events.append(event)

    ctx = TechniqueContext(workdir=job.workdir, sink=collect, seed=job.seed, threads=job.threads)
    # The parent wrote these files in this run: trusted pickles of our own modules.
    teacher = torch.load(job.teacher, weights_only=False)
    student = torch.load(job.student, weights_only=False)
    with np.load(job.data, allow_pickle=False) as arrays:
        data = DistillData(arrays["x"], arrays.get("y"), job.data_source)
    with torch_threads(job.threads):
        outcome = distill_into(
            teacher,
            student,
            data,
            job.distill,
            ctx,
            checkpoint_name=f"trials/trial_{job.number}.pt",
        )
    path = job.workdir / "trials" / f"trial_{job.number}_trained.pt"
    torch.save(outcome.student, path)
    return _TrialDone(
        score=_score(outcome), epochs=len(outcome.val_losses), student=path, events=events
    )
