"""Constraint-aware architecture search over students of the teacher's family (Optuna).

Each trial samples an architecture (depth, width, heads, ...) from the family's search space,
builds it, and checks the limits before spending any training on it: parameter count, ONNX file
size and ONNX Runtime latency (batch 1, ``ctx.threads``). Violators are pruned with the reason
recorded. Survivors are distilled briefly from the teacher and scored on a held-out split
(accuracy with labels, teacher agreement for logits, else negative KD loss). The sampler is
seeded, so the same seed gives the same trials (latency limits aside: timings are noisy).

Parallel trials (``parallel_trials``, default: the run's search workers) are asked together
and told to the sampler in trial-number order, so the trials depend on the seed and on this
number, not on which finished first; the trial machinery is in ``nas_trials.py``.

Example:
    >>> apply_technique("nas_search", handle, ctx, {"max_params": 50_000, "n_trials": 12})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.agents.optimization.nas_trials import TrialSearch, optimize_in_batches
from embodied_ai_architect.agents.optimization.techniques.distillation import DistillConfig
from embodied_ai_architect.agents.optimization.torch_helpers import require_torch_handle
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle


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

    if config.max_params is None and config.max_size_mb is None and config.max_latency_ms is None:
        raise ConfigError(
            "nas_search needs at least one limit: max_params, max_size_mb or max_latency_ms",
            hint="state what the student must fit, e.g. {'max_latency_ms': 5}",
        )
    search = TrialSearch.prepare(require_torch_handle(handle, config.technique), config, ctx)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=ctx.seed)
    )
    batch = config.parallel_trials or int(ctx.extras.get("search_workers", 1))
    if batch <= 1:
        study.optimize(search.objective, n_trials=config.n_trials, timeout=config.timeout_s)
    else:
        optimize_in_batches(study, search, batch)
    ctx.path("trials.json").write_text(json.dumps(search.records, indent=2))
    return search.result()
