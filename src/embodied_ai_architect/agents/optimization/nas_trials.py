"""NAS trials: sample a student, check the limits before training, distill and score it.

The search machinery of ``techniques/nas.py`` (which holds the config, the registered technique
and the run's outline): ``TrialSearch.prepare`` checks the family's space and draws the data,
the search is Optuna's objective and keeps every trial's record, ``result`` turns the best
student into the technique's result;
``optimize_in_batches`` asks several trials at once, checks their limits here one at a time
(the latency check times the student, and timings sharing cores corrupt each other) and
distills the survivors together in spawned processes, told to the sampler in trial order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from embodied_ai_architect.agents.optimization.base import TechniqueContext, TechniqueResult
from embodied_ai_architect.agents.optimization.techniques.distillation import (
    DistillConfig,
    distill_into,
)
from embodied_ai_architect.agents.optimization.torch_helpers import (
    clone_module,
    derived_handle,
    file_size,
    parameter_count,
    save_module,
)
from embodied_ai_architect.errors import ConfigError, TechniqueError
from embodied_ai_architect.schemas.progress import ProgressEvent

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from embodied_ai_architect.agents.optimization.distill_utils import DistillData
    from embodied_ai_architect.agents.optimization.student_families import StudentFamily
    from embodied_ai_architect.agents.optimization.techniques.nas import NasSearchConfig
    from embodied_ai_architect.modelio.handle import TorchModelHandle


class Limits:
    def __init__(self, config: NasSearchConfig):
        self.config = config

    def check(self, name: str, value: float) -> str | None:
        limit = getattr(self.config, name)
        if limit is not None and value > limit:
            return f"{name.removeprefix('max_')} {value:.4g} > limit {limit:.4g}"
        return None


def score(outcome: Any) -> float:
    if outcome.val_accuracy is not None:
        return float(outcome.val_accuracy)
    if outcome.val_agreement is not None:
        return float(outcome.val_agreement)
    return -float(min(outcome.val_losses))


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


class TrialSearch:
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
        self.limits = Limits(config)
        self.base = family.read(teacher)
        self.records: list[dict[str, Any]] = []
        self.best: tuple[dict[str, Any], nn.Module] | None = None

    @classmethod
    def prepare(
        cls, source: TorchModelHandle, config: NasSearchConfig, ctx: TechniqueContext
    ) -> TrialSearch:
        """The search over students of ``source``'s family: its space checked, its data drawn."""
        from embodied_ai_architect.agents.optimization.distill_utils import distill_data
        from embodied_ai_architect.agents.optimization.student_families import family_of

        teacher = clone_module(source)
        family = family_of(teacher)
        space = _space(family, teacher, config)
        data = distill_data(source, ctx, config.distill.num_samples)
        return cls(source, teacher, family, space, data, config, ctx)

    def result(self) -> TechniqueResult:
        """The best student as the technique's result (TechniqueError when no trial passed)."""
        if self.best is None:
            reasons = sorted({r.get("reason", r["status"]) for r in self.records})
            raise TechniqueError(
                f"none of {len(self.records)} trials met the limits ({'; '.join(reasons[:5])})",
                hint="relax the limits or search smaller widths / depths via `space`",
                details={"trials": self.records},
            )
        best_record, student = self.best
        path = save_module(student, self.source, self.ctx.path("nas_best.pt2"))
        metrics: dict[str, float] = {
            "trials": float(len(self.records)),
            "trials_completed": float(sum(r["status"] == "complete" for r in self.records)),
            "trials_rejected": float(sum(r["status"] == "rejected" for r in self.records)),
            "best_score": best_record["score"],
            "best_params": float(best_record["params"]),
            "best_size_mb": best_record["size_mb"],
            "best_latency_ms": best_record["latency_ms"],
            "params_teacher": float(parameter_count(self.teacher)),
        }
        for record in self.records:
            if record["status"] == "complete":
                metrics[f"trial_{record['number']}_score"] = record["score"]
        arch = ", ".join(f"{k}={v}" for k, v in best_record["arch"].items())
        handle = derived_handle(
            self.source,
            student,
            suffix="nas",
            path=path,
            metadata={"nas_arch": best_record["arch"]},
        )
        return TechniqueResult(
            handle=handle,
            changes=[
                f"searched {len(self.records)} {self.family.name} students "
                f"({int(metrics['trials_rejected'])} rejected by the limits); best: {arch} "
                f"({best_record['params']:,} params, {best_record['latency_ms']:.3g} ms, "
                f"score {best_record['score']:.4g})"
            ],
            warnings=["scored on synthetic inputs: no training or calibration data"]
            if self.data.source == "synthetic inputs"
            else [],
            metrics=metrics,
        )

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
        return self.complete(record, student, score(outcome), len(outcome.val_losses))

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


def optimize_in_batches(study: optuna.Study, search: TrialSearch, batch: int) -> None:
    """``study.optimize`` with ``batch`` trials asked at once and distilled in parallel."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    import optuna
    import torch

    ctx, config = search.ctx, search.config
    # Everything a worker needs goes as files: the teacher, the data, each trial's student.
    shared = _SearchFiles.write(search)
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
                job = _TrialJob(number=trial.number, student=path, search=shared)
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


class _SearchFiles(BaseModel):
    """What every trial's worker shares: written once per search, read back in each worker."""

    workdir: Path
    data_source: str
    distill: DistillConfig
    seed: int
    threads: int

    _TEACHER: ClassVar[str] = "nas_teacher.pt"
    _DATA: ClassVar[str] = "nas_data.npz"

    @classmethod
    def write(cls, search: TrialSearch) -> _SearchFiles:
        import numpy as np
        import torch

        ctx, data = search.ctx, search.data
        torch.save(search.teacher, ctx.path(cls._TEACHER))
        arrays: dict[str, Any] = {"x": data.x} if data.y is None else {"x": data.x, "y": data.y}
        np.savez(ctx.path(cls._DATA), **arrays)
        return cls(
            workdir=ctx.workdir,
            data_source=data.source,
            distill=search.config.distill,
            seed=ctx.seed,
            threads=ctx.threads,
        )

    def read(self) -> tuple[nn.Module, DistillData]:
        """The teacher and the data ``write`` saved (trusted pickles: this run wrote them)."""
        import numpy as np
        import torch

        from embodied_ai_architect.agents.optimization.distill_utils import DistillData

        teacher = torch.load(self.workdir / self._TEACHER, weights_only=False)
        with np.load(self.workdir / self._DATA, allow_pickle=False) as arrays:
            data = DistillData(arrays["x"], arrays.get("y"), self.data_source)
        return teacher, data


class _TrialJob(BaseModel):
    number: int
    student: Path
    search: _SearchFiles


class _TrialDone(BaseModel):
    score: float
    epochs: int
    student: Path
    events: list[ProgressEvent]


def _distill_trial(job: _TrialJob) -> _TrialDone:
    """One trial's distillation, in a worker process (files in, a file and a score out)."""
    import torch

    from embodied_ai_architect.modelio.handle import torch_threads

    events: list[ProgressEvent] = []

    def collect(event: ProgressEvent) -> None:  # replayed by the parent, in trial order
        events.append(event)

    shared = job.search
    ctx = TechniqueContext(
        workdir=shared.workdir, sink=collect, seed=shared.seed, threads=shared.threads
    )
    teacher, data = shared.read()
    student = torch.load(job.student, weights_only=False)  # the parent wrote it in this run
    with torch_threads(shared.threads):
        outcome = distill_into(
            teacher,
            student,
            data,
            shared.distill,
            ctx,
            checkpoint_name=f"trials/trial_{job.number}.pt",
        )
    path = shared.workdir / "trials" / f"trial_{job.number}_trained.pt"
    torch.save(outcome.student, path)
    return _TrialDone(
        score=score(outcome), epochs=len(outcome.val_losses), student=path, events=events
    )
