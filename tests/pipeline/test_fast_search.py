"""Fast search: a candidate that loses on speed is never evaluated, a jittering chain stops.

Regressions from the time-to-result benchmark on ResNet-34 (benchmarks/time_to_result.py): ORT
dynamic INT8 read 950 ms against its 403 ms parent and still spent 30 s in evaluation; static
INT8 fallback chains scored 50 → 37.5 → 43.8 → 37.5 → 37.5 % on the small selection set, which
"moved" each time, so the chain ran six attempts without ever gaining.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tests.pipeline.test_objective import _measured, m

from embodied_ai_architect.agents.evaluation.accuracy import FidelityEvaluator
from embodied_ai_architect.modelio.handle import ModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.pipeline import state as state_module
from embodied_ai_architect.pipeline.bus import EventBus
from embodied_ai_architect.pipeline.chains import (
    SLOW_DROP,
    StepSearch,
    beyond_reach,
    slow_cut,
    stop_reason,
)
from embodied_ai_architect.pipeline.state import RunState
from embodied_ai_architect.pipeline.versions import VersionRegistry
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.evaluation import TaskScore
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.schemas.results import (
    ConstraintVerdict,
    OptimizeRequest,
    PlanStep,
    StepCandidate,
    StepStatus,
)
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import ArtifactStore
from embodied_ai_architect.store.repo import jobs as job_repo
from embodied_ai_architect.store.repo import models as model_repo
from embodied_ai_architect.testing.models import build_mlp_policy


class CountingFidelity(FidelityEvaluator):
    """The real fidelity evaluator, counting how often a version is evaluated."""

    calls = 0

    def evaluate(
        self, handle: ModelHandle, *, reference: ModelHandle | None = None, limit: int | None = None
    ) -> TaskScore:
        self.calls += 1
        return super().evaluate(handle, reference=reference, limit=limit)


@pytest.fixture
def state(tmp_path: Path) -> RunState:
    request = OptimizeRequest(
        model_path=tmp_path / "policy.pt", constraints=Constraints(max_accuracy_drop=2)
    )
    run = RunState(request, Settings(workspace=tmp_path / "ws", num_threads=1), EventBus())
    run.workdir = tmp_path
    return run


def _policy() -> tuple[ModelHandle, FidelityEvaluator]:
    handle = handle_from_module(build_mlp_policy(), name="policy")
    feeds = handle.example_inputs(batch=8, seed=0)
    return handle, CountingFidelity({k: np.asarray(v) for k, v in feeds.items()})


def _artifact(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(name.encode())  # distinct bytes: no reuse of an earlier measurement
    return path


def test_a_candidate_slower_than_the_cut_is_timed_but_never_evaluated(
    state: RunState, tmp_path: Path
) -> None:
    handle, evaluator = _policy()
    state.evaluator = evaluator
    # A parent a million times faster: the candidate loses on speed, whatever its accuracy.
    slow = state.measure(
        handle, _artifact(tmp_path, "a1"), reference_ms=1e-6, slower_than=SLOW_DROP * 1e-6
    )
    assert evaluator.calls == 0 and slow.accuracy is None and slow.p50_ms > 0
    # Under the cut it is evaluated as before, once.
    kept = state.measure(handle, _artifact(tmp_path, "a2"), reference_ms=1e3, slower_than=1e3)
    assert evaluator.calls == 1 and kept.accuracy == pytest.approx(1.0)
    assert kept.accuracy_metric is not None and kept.measure_seconds > 0
    # Without a cut (a size limit needs slow versions) it is evaluated too.
    state.measure(handle, _artifact(tmp_path, "a3"), reference_ms=1e-6)
    assert evaluator.calls == 2


def _registry_with_v0(state: RunState, handle: ModelHandle, tmp_path: Path) -> VersionRegistry:
    db = Database(f"sqlite:///{tmp_path / 'branes.db'}")
    db.upgrade()
    packed = _artifact(tmp_path, "v0")
    with db.session() as session:
        model_id = model_repo.create_model(
            session, name="policy", format="torch", sha256="0" * 64, size_bytes=2, path=str(packed)
        ).id
        job_repo.create_job(session, kind=JobKind.OPTIMIZE, request={}, job_id="job")
    registry = VersionRegistry(
        db, ArtifactStore(tmp_path / "store", remote=None), model_id=model_id, job_id="job"
    )
    metrics = state.measure(handle, packed)
    registry.register(handle, packed, parent=None, technique=None, config={}, metrics=metrics)
    return registry


def test_a_tiny_candidate_over_the_cut_is_re_timed_with_its_parent_before_it_is_dropped(
    state: RunState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle, evaluator = _policy()
    state.registry = _registry_with_v0(state, handle, tmp_path)
    state.evaluator = evaluator
    calls = evaluator.calls
    # The parent's alone figure as a burst of load elsewhere can leave it: 10× too fast. The
    # candidate (the same model) is as fast as its parent in alternation: it is evaluated, and
    # its figures are the interleaved ones and say so.
    parent_ms = state.registry.get("v0").metrics.p50_ms / 10
    cut = SLOW_DROP * parent_ms
    kept = state.measure(
        handle, _artifact(tmp_path, "a1"), reference_ms=parent_ms, slower_than=cut, parent="v0"
    )
    assert kept.accuracy == pytest.approx(1.0) and evaluator.calls == calls + 1
    assert kept.timing is not None and "interleaved with v0" in kept.timing
    # Where three rounds of both would cost more than CONFIRM_SLOW_MS, the alone verdict stands.
    monkeypatch.setattr(state_module, "CONFIRM_SLOW_MS", 0.0)
    slow = state.measure(
        handle, _artifact(tmp_path, "a2"), reference_ms=parent_ms, slower_than=cut, parent="v0"
    )
    assert slow.accuracy is None and evaluator.calls == calls + 1
    state.registry.db.dispose()


def test_the_cut_is_lifted_when_a_size_limit_or_the_target_needs_the_candidate() -> None:
    parent = m(10.0, 12.0)
    step = PlanStep(id="precision", objective="latency", candidates=[], rationale="")
    plain: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2))
    assert slow_cut(plain, step, parent) == pytest.approx(10.0 * SLOW_DROP)
    sized: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2, max_size_mb=5))
    assert slow_cut(sized, step, parent) is None  # the parent misses the size limit
    assert slow_cut(plain, step.model_copy(update={"objective": "size"}), parent) is None
    assert slow_cut(plain, step.model_copy(update={"required": True}), parent) is None


def test_a_jittering_chain_that_never_gains_stops_after_two_retries() -> None:
    state: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2))
    search = StepSearch(m(17.5, 12.0))
    reasons = [
        stop_reason(state, search, _measured("ort_int8_static", m(9.0, 3.2, score)), "latency")
        for score in (0.5, 0.375, 0.4375)
    ]
    assert reasons[:2] == [None, None]
    assert reasons[2] is not None and "did not raise the best score" in reasons[2]
    assert "50.00, 37.50, 43.75 %" in reasons[2]
    # A chain whose best keeps rising goes on, even after a retry that fell back.
    rising = StepSearch(m(17.5, 12.0))
    for score in (0.5, 0.45, 0.7, 0.69):
        why = stop_reason(
            state, rising, _measured("ort_int8_static", m(9.0, 3.2, score)), "latency"
        )
        assert why is None, why


def test_a_chain_far_below_the_floor_stops_when_its_first_retry_gains_nothing() -> None:
    state: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2))

    def attempt(score: float) -> Any:
        measured = _measured("openvino_int8", m(9.0, 3.2, score))
        measured.verdicts = [
            ConstraintVerdict(
                constraint="accuracy", passed=False, actual=score, limit=0.98, reason="below"
            )
        ]
        return measured

    hopeless = StepSearch(m(17.5, 12.0))
    assert stop_reason(state, hopeless, attempt(0.625), "latency") is None
    why = stop_reason(state, hopeless, attempt(0.5625), "latency")
    assert why is not None and "first retry did not raise the score" in why
    # Close to the floor, one flat retry is not enough to give up.
    near = StepSearch(m(17.5, 12.0))
    assert stop_reason(state, near, attempt(0.95), "latency") is None
    assert stop_reason(state, near, attempt(0.95), "latency") is None
    # Far below, but the first retry gained: the chain goes on.
    gaining = StepSearch(m(17.5, 12.0))
    assert stop_reason(state, gaining, attempt(0.40), "latency") is None
    assert stop_reason(state, gaining, attempt(0.55), "latency") is None


def test_a_quantizer_far_below_the_floor_is_not_tried_again_as_a_variant() -> None:
    verdicts = [
        ConstraintVerdict(
            constraint="accuracy", passed=False, actual=0.625, limit=0.98, reason="below"
        )
    ]
    far = StepSearch(m(17.5, 12.0))
    far.chains["openvino_int8"] = [0.625, 0.5625]
    far.note_stop("openvino_int8", verdicts)
    why = far.hopeless["openvino_int8"]
    assert "62.50 %" in why and "35.5 points short" in why and "variant" in why
    # A chain that stopped near the floor (e.g. it could not beat the incumbent) leaves its
    # variants to be measured: another preset can close a few points (YOLOv8s: 8 points).
    near = StepSearch(m(17.5, 12.0))
    near.chains["openvino_int8"] = [0.9167]
    near.note_stop("openvino_int8", verdicts)
    assert near.hopeless == {}


def test_a_candidate_whose_best_case_cannot_beat_the_kept_one_is_not_applied() -> None:
    state: Any = SimpleNamespace(constraints=Constraints(max_accuracy_drop=2))
    parent = m(97.0, 90.0)  # MiniLM's OpenVINO FP32 parent, timed in alternation
    search = StepSearch(parent)
    int4 = StepCandidate(technique="ort_int4_rtn")
    # Nothing kept yet: its best case (0.9× the parent) would win, so it is tried.
    assert beyond_reach(state, search, int4, "latency") is None
    search.kept.append(_measured("openvino_int8", m(35.0, 23.0)))
    why = beyond_reach(state, search, int4, "latency")
    assert why is not None and "best case on record" in why and "35 ms" in why
    # INT8's best case (0.1× the parent, with 1.5× slack for the incumbent's alone timing:
    # 6.47 ms) cannot beat a kept 5 ms version; against a slower kept version it can.
    fast = StepSearch(parent)
    fast.kept.append(_measured("openvino_int8", m(5.0, 23.0)))
    why = beyond_reach(state, fast, StepCandidate(technique="ort_int8_static"), "latency")
    assert why is not None and "6.47 ms" in why and "slack" in why
    slower = StepSearch(parent)
    slower.kept.append(_measured("ort_fp16", m(80.0, 45.0)))
    assert (
        beyond_reach(state, slower, StepCandidate(technique="ort_int8_static"), "latency") is None
    )
    # ResNet-34 on the AMX Xeon: a BF16 version read 4.77 ms alone (9.45 ms in alternation) over
    # a 25.2 ms parent; OpenVINO INT8 of it runs in 3.07 ms, so it must still be tried.
    resnet = StepSearch(m(25.2, 87.2))
    resnet.kept.append(_measured("openvino_bf16", m(4.77, 87.2)))
    assert beyond_reach(state, resnet, StepCandidate(technique="openvino_int8"), "latency") is None
    # Under the size objective INT4's best case (0.13× the size) still beats a 23 MB INT8.
    assert beyond_reach(state, search, int4, "size") is None


def test_session_settings_are_neither_counted_nor_stopped_by_the_attempt_budget(
    tmp_path: Path,
) -> None:
    request = OptimizeRequest(
        model_path=tmp_path / "policy.pt",
        constraints=Constraints(max_accuracy_drop=2, budget={"max_attempts": 2}),
    )
    run = RunState(request, Settings(workspace=tmp_path / "ws", num_threads=2), EventBus())
    for technique in ("ort_int8_dynamic", "ort_int8_static"):
        run.new_attempt(
            "precision", StepCandidate(technique=technique), "v0"
        ).status = StepStatus.REJECTED
    assert run.attempts_left() == 0
    stop = run.budget_exhausted(StepCandidate(technique="ort_fp16"))
    assert stop is not None and "2 attempts (max 2)" in stop
    # The thread count of the final model is still timed: same file, one interleaved timing.
    threads = StepCandidate(technique="ort_threads", config={"intra_op_threads": 1})
    assert run.budget_exhausted(threads) is None
    run.new_attempt("threads", threads, "v0").status = StepStatus.REJECTED
    assert run.attempts_left() == 0 and run.budget_exhausted(threads) is None
