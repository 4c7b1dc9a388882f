"""Closed-loop evaluation on a suite, and ``SimTaskEvaluator`` for the optimization pipeline.

Every model version runs on the same validated, seeded scenes; the result carries the suite
manifest (seeds + XML hashes) so it can be reproduced exactly.

Example (what ``branes optimize policy.pt --eval-sim reach-v0/smoke`` does):
    >>> evaluator = SimTaskEvaluator(suite="reach-v0/smoke")
    >>> score = evaluator.evaluate(handle)          # TaskScore(metric="success_rate", ...)
    >>> score.details["action_validity_rate"], score.details["latency_p95_ms"]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from embodied_ai_architect.errors import EvaluationError
from embodied_ai_architect.modelio.handle import ModelHandle, torch_threads
from embodied_ai_architect.schemas.evaluation import TaskEvaluator, TaskScore
from embodied_ai_architect.sim.policy_io import HandlePolicy, Policy
from embodied_ai_architect.sim.rollout import run_episode
from embodied_ai_architect.sim.schemas import EpisodeResult, Observation
from embodied_ai_architect.sim.suites import (
    FIRST_SUITE_SEED,
    Suite,
    SuiteManifest,
    build_scenes,
    load_suite,
    manifest_for,
)

CALIBRATION_FIRST_SEED = 900  # training scenes, below FIRST_SUITE_SEED: never evaluated on


class SuiteResult(BaseModel):
    """Closed-loop metrics of one policy version on one suite."""

    policy: str
    suite_id: str
    episodes: int
    success_rate: float = Field(ge=0, le=1)
    mean_episode_length: float
    action_validity_rate: float = Field(ge=0, le=1)
    safety_limit_hits: int
    limit_hits: dict[str, int]
    latency_p50_ms: float = Field(description="policy inference + sim step, per control step")
    latency_p95_ms: float
    manifest_digest: str
    per_episode: list[EpisodeResult]


def summarize(policy: str, suite_id: str, digest: str, results: list[EpisodeResult]) -> SuiteResult:
    steps = sum(r.steps for r in results)
    latencies = np.concatenate([r.latencies_ms for r in results])
    hits: dict[str, int] = {}
    for result in results:
        for key, count in result.limit_hits.items():
            hits[key] = hits.get(key, 0) + count
    return SuiteResult(
        policy=policy,
        suite_id=suite_id,
        episodes=len(results),
        success_rate=sum(r.success for r in results) / len(results),
        mean_episode_length=steps / len(results),
        action_validity_rate=sum(r.valid_actions for r in results) / max(steps, 1),
        safety_limit_hits=sum(hits.values()),
        limit_hits=hits,
        latency_p50_ms=float(np.percentile(latencies, 50)),
        latency_p95_ms=float(np.percentile(latencies, 95)),
        manifest_digest=digest,
        per_episode=results,
    )


def evaluate_policies(
    suite: Suite | str,
    policies: dict[str, Policy],
    *,
    trace_dir: Path | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[SuiteManifest, dict[str, SuiteResult]]:
    """Roll every policy out on the suite's scenes (same scenes for all), return metrics."""
    suite = load_suite(suite) if isinstance(suite, str) else suite
    if not policies:
        raise EvaluationError("no policies to evaluate", hint="pass at least one model")
    scenes = build_scenes(suite)
    manifest = manifest_for(suite, scenes)
    total = len(scenes) * len(policies)
    done = 0
    out: dict[str, SuiteResult] = {}
    for name, policy in policies.items():
        results = []
        for scene in scenes:
            trace = None
            if trace_dir is not None:
                trace = trace_dir / _safe(name) / f"{scene.family}-{scene.seed}.jsonl"
                trace.parent.mkdir(parents=True, exist_ok=True)
            results.append(
                run_episode(scene, policy, max_steps=suite.spec.max_steps, trace_path=trace)
            )
            done += 1
            if progress is not None:
                progress(100.0 * done / total, f"{name}: seed {scene.seed}")
        out[name] = summarize(name, suite.suite_id, manifest.digest, results)
    if trace_dir is not None:
        manifest.write(trace_dir / "manifest.json")
    return manifest, out


def expert_observations(
    family: str,
    *,
    count: int,
    image_size: int | None,
    first_seed: int = CALIBRATION_FIRST_SEED,
    every: int = 3,
) -> list[Observation]:
    """Every ``every``-th observation of the expert's episodes from ``first_seed`` on."""
    from embodied_ai_architect.sim.env import SimEnv, make_scene
    from embodied_ai_architect.sim.experts import EXPERTS

    if count < 1:
        raise EvaluationError(f"count must be ≥ 1, got {count}", hint="e.g. 128")
    expert = EXPERTS[family]
    observations: list[Observation] = []
    seed = first_seed
    while len(observations) < count:
        if seed >= FIRST_SUITE_SEED:
            raise EvaluationError(
                f"{count} observations need scenes beyond seed {FIRST_SUITE_SEED - 1}, where "
                "the suites' evaluation scenes start",
                hint="ask for fewer observations or start at a lower seed",
            )
        with SimEnv(make_scene(family, seed), image_size=image_size) as env:
            observation = env.reset()
            for step in range(env.max_steps):
                if step % every == 0:
                    observations.append(observation)
                outcome = env.step(expert(env))
                observation = outcome.observation
                if outcome.done or len(observations) == count:
                    break
        seed += 1
    return observations


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class SimTaskEvaluator(TaskEvaluator):
    """TaskEvaluator: closed-loop success rate of a policy on a simulation suite.

    Args:
        suite: a suite id such as ``"reach-v0/smoke"`` (see ``branes sim suites``).
        limit: evaluate only the first N scenes of the suite (quick checks).
        trace_dir: write per-episode JSONL traces and the suite manifest here.
        threads: intra-op threads for torch policies during rollouts (latency comparability).

    ``evaluate(handle, reference=None)`` returns ``TaskScore(metric="success_rate")``; its
    details hold mean episode length, action validity rate, safety-limit hits, control-loop
    latency p50/p95, the manifest digest and, when ``reference`` is given, the reference's
    success rate and the drop in percentage points. The observation → input mapping comes
    from the handle's input names (see :mod:`embodied_ai_architect.sim.policy_io`).
    """

    def __init__(
        self,
        suite: str,
        *,
        limit: int | None = None,
        trace_dir: Path | None = None,
        threads: int = 1,
    ) -> None:
        if threads < 1:
            raise EvaluationError(f"threads must be ≥ 1, got {threads}", hint="e.g. threads=1")
        self.suite = load_suite(suite, limit=limit)
        self.name = f"sim:{self.suite.suite_id}"
        self.trace_dir = trace_dir
        self.threads = threads
        # Keyed by handle identity; the handle is kept so its id cannot be reused meanwhile.
        self._cache: dict[int, tuple[ModelHandle, SuiteResult]] = {}
        self._observations: dict[tuple[int | None, int], list[Observation]] = {}

    def run(self, handle: ModelHandle) -> SuiteResult:
        """Evaluate (once per handle object) and return the full suite result."""
        key = id(handle)
        if key not in self._cache:
            trace_dir = self.trace_dir / _safe(handle.name) if self.trace_dir else None
            with torch_threads(self.threads, handle):
                _, results = evaluate_policies(
                    self.suite, {handle.name: HandlePolicy(handle)}, trace_dir=trace_dir
                )
            self._cache[key] = (handle, results[handle.name])
        return self._cache[key][1]

    def calibration_feeds(self, handle: ModelHandle, count: int = 128) -> dict[str, np.ndarray]:
        """``count`` model inputs from real observations, for calibrated quantization.

        Observations come from the scripted expert on *training* scenes of the suite's family
        (seeds from ``CALIBRATION_FIRST_SEED``, below every suite's seeds), mapped to the
        handle's inputs like a rollout would: calibrating on random inputs instead left a
        static-INT8 VLA at 0 % success (its image statistics were nothing like a render).
        """
        policy = HandlePolicy(handle)
        key = (policy.image_size, count)
        if key not in self._observations:
            self._observations[key] = expert_observations(
                self.suite.family, count=count, image_size=policy.image_size
            )
        feeds = [policy.feeds(observation) for observation in self._observations[key]]
        return {name: np.concatenate([f[name] for f in feeds]) for name in feeds[0]}

    def evaluate(self, handle: ModelHandle, *, reference: ModelHandle | None = None) -> TaskScore:
        result = self.run(handle)
        details: dict[str, Any] = result.model_dump(exclude={"per_episode"})
        details["per_episode"] = [
            {"seed": e.seed, "success": e.success, "steps": e.steps} for e in result.per_episode
        ]
        if reference is not None:
            ref = self.run(reference)
            details["reference_success_rate"] = ref.success_rate
            details["success_drop_pct"] = 100.0 * (ref.success_rate - result.success_rate)
        return TaskScore(
            evaluator=self.name,
            metric="success_rate",
            value=result.success_rate,
            samples=result.episodes,
            details=details,
        )
