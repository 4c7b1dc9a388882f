"""What the profile rules out or orders: per-call overhead on tiny models, BatchNorm folding
with nothing to fold, the analysis' opportunities between equal priors, gentler retries."""

from __future__ import annotations

from typing import Any

from embodied_ai_architect.agents.optimization.base import get_technique
from embodied_ai_architect.agents.planning.gentler import fallback
from embodied_ai_architect.agents.planning.planner import (
    PlanningInput,
    applicable_techniques,
    make_plans,
)
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.profile import (
    ArchitectureFamily,
    Capability,
    FamilyDetection,
    HostInfo,
    LayerInfo,
    LayerSensitivity,
    ModelProfile,
    OpCount,
    Opportunity,
)
from embodied_ai_architect.schemas.results import StepCandidate, VersionMetrics
from embodied_ai_architect.schemas.tensors import TensorSpec

BASE = VersionMetrics(
    size_bytes=90_000_000,
    parameters=22_000_000,
    runtime="onnxruntime",
    p50_ms=100.0,
    p95_ms=110.0,
    throughput_per_s=10,
    threads=2,
)


def _profile(**fields: Any) -> ModelProfile:
    values: dict[str, Any] = {
        "model_name": "m",
        "source_format": "onnx",
        "framework": "onnx",
        "file_bytes": 1,
        "parameters": 1,
        "parameter_bytes": 4,
        "by_dtype": [],
        "inputs": [TensorSpec(name="x", shape=[1, 8])],
        "outputs": [TensorSpec(name="y", shape=[1, 8])],
        "op_census": [],
        "layers": [],
        "family": FamilyDetection(
            family=ArchitectureFamily.TRANSFORMER_ENCODER, confidence=1, evidence=["test"]
        ),
        "host": HostInfo(
            cpu_model="cpu",
            architecture="x86_64",
            cores_logical=2,
            cpu_flags=["avx2"],
            memory_gb=8,
            runtimes={},
            os="linux",
            python="3.11",
        ),
    }
    values.update(fields)
    return ModelProfile(**values)


def _input(profile: ModelProfile | None, **kwargs: Any) -> PlanningInput:
    values: dict[str, Any] = {
        "profile": profile,
        "family": "transformer_encoder",
        "constraints": Constraints(max_accuracy_drop=2),
        "baseline": BASE,
        "framework": "onnx",
        "has_training_data": False,
        "has_calibration_data": True,
    }
    values.update(kwargs)
    return PlanningInput(**values)


def _skipped(inp: PlanningInput) -> tuple[set[str], dict[str, str]]:
    usable, skipped = applicable_techniques(inp)
    notes = {s.split(":", 1)[0]: s.split(":", 1)[1] for s in skipped}
    return {u.spec.name for u in usable}, notes


def test_openvino_is_not_planned_for_a_tiny_model_and_the_reason_names_its_macs() -> None:
    usable, notes = _skipped(_input(_profile(macs=1_100_000)))
    for name in ("openvino_ir", "openvino_int8"):
        assert name not in usable
        assert "1.1 M MACs" in notes[name] and "per-call" in notes[name], notes[name]
    assert "ort_int8_dynamic" in usable  # ONNX Runtime stays
    large, _ = _skipped(_input(_profile(macs=700_000_000)))
    assert {"openvino_ir", "openvino_int8"} <= large
    # A 16 M-MAC classifier: OpenVINO lost on one host and won on another, so it is measured.
    assert {"openvino_ir", "openvino_int8"} <= _skipped(_input(_profile(macs=16_000_000)))[0]
    # Unknown MACs: no evidence, no veto.
    assert {"openvino_ir", "openvino_int8"} <= _skipped(_input(_profile(macs=None)))[0]


def test_a_tiny_model_on_an_openvino_target_still_gets_openvino() -> None:
    inp = _input(_profile(macs=1_000_000), target="openvino", target_runtime="openvino")
    usable, notes = _skipped(inp)
    assert "openvino_int8" in usable, notes.get("openvino_int8")


def test_fold_batchnorm_is_planned_only_when_the_profile_counts_foldable_batchnorms() -> None:
    torch_input = {"framework": "torch", "family": "cnn_classifier"}
    usable, notes = _skipped(_input(_profile(foldable_batchnorms=0), **torch_input))
    assert "fold_batchnorm" not in usable
    assert "foldable_batchnorms = 0" in notes["fold_batchnorm"]
    plans, _ = make_plans(_input(_profile(foldable_batchnorms=0), **torch_input))
    planned = {c.technique for p in plans for s in p.steps for c in s.candidates}
    assert "fold_batchnorm" not in planned
    assert "fold_batchnorm" in _skipped(_input(_profile(foldable_batchnorms=3), **torch_input))[0]
    # A profile written before the count existed: the technique may still try.
    assert "fold_batchnorm" in _skipped(_input(_profile(), **torch_input))[0]


def _configs(profile: ModelProfile) -> list[StepCandidate]:
    plans, _ = make_plans(_input(profile))
    return next(s for p in plans for s in p.steps if s.id == "precision").candidates


def _precision(profile: ModelProfile) -> list[str]:
    return [c.technique for c in _configs(profile)]


def _offer(technique: str, score: float) -> Opportunity:
    return Opportunity(
        technique=technique, title=technique, rationale="test", expected_gain="", score=score
    )


def test_the_analysis_opportunities_order_equal_priors() -> None:
    big = {"macs": 700_000_000}
    matmul_heavy = _precision(_profile(opportunities=[_offer("ort_int8_dynamic", 4.9)], **big))
    int8 = [
        t for t in matmul_heavy if t in ("ort_int8_dynamic", "ort_int8_static", "openvino_int8")
    ]
    assert int8[0] == "ort_int8_dynamic", matmul_heavy
    conv_heavy = _precision(
        _profile(
            opportunities=[_offer("openvino_int8", 8.4), _offer("ort_int8_static", 7.9)], **big
        )
    )
    int8 = [t for t in conv_heavy if t in ("ort_int8_dynamic", "ort_int8_static", "openvino_int8")]
    assert int8 == ["openvino_int8", "ort_int8_static", "ort_int8_dynamic"], conv_heavy


def test_dynamic_int8_retries_gentler_settings_before_mixed_precision() -> None:
    spec = get_technique("ort_int8_dynamic")
    profile = _profile(
        sensitivity=[LayerSensitivity(layer="a", op_type="MatMul", metric="m", score=0.3)]
    )
    candidate = StepCandidate(technique="ort_int8_dynamic")
    configs, reasons = [], []
    for _ in range(3):
        nxt = fallback(candidate, spec, profile)
        assert nxt is not None
        candidate, why = nxt
        configs.append(dict(candidate.config))
        reasons.append(why)
    assert configs == [
        {"per_channel": True},
        {"per_channel": True, "reduce_range": False},
        {"per_channel": True, "reduce_range": False, "exclude_top_sensitive": 1},
    ]
    assert "per output channel" in reasons[0] and "8-bit" in reasons[1]
    assert "most sensitive" in reasons[2]


def test_non_relu_activations_time_nncf_symmetric_preset_beside_the_default() -> None:
    census = [OpCount(op_type="Conv", count=64, parameters=10, parameter_share=1.0)]
    silu = [*census, OpCount(op_type="Sigmoid", count=57, parameters=0, parameter_share=0.0)]
    with_silu = [(c.technique, c.config) for c in _configs(_profile(op_census=silu, macs=10**10))]
    default = with_silu.index(("openvino_int8", {}))
    # Right after the default (auto → mixed for SiLU): the symmetric preset, timed beside it.
    assert with_silu[default + 1] == ("openvino_int8", {"preset": "performance"})
    relu = [*census, OpCount(op_type="Relu", count=57, parameters=0, parameter_share=0.0)]
    plain = [(c.technique, c.config) for c in _configs(_profile(op_census=relu, macs=10**10))]
    assert ("openvino_int8", {}) in plain  # 'auto' already is 'performance' there: no variant
    assert ("openvino_int8", {"preset": "performance"}) not in plain


def _bf16(fast: bool) -> list[Capability]:
    reason = "native BF16 dot products" if fast else "no BF16 instructions: BF16 would be emulated"
    return [
        Capability(runtime="openvino", precision="bf16", available=True, fast=fast, reason=reason)
    ]


def test_bf16_compute_is_planned_only_where_the_cpu_has_it_natively() -> None:
    usable, _ = _skipped(_input(_profile(macs=10**10, capabilities=_bf16(True))))
    assert "openvino_bf16" in usable
    for capabilities in (_bf16(False), []):
        usable, notes = _skipped(_input(_profile(macs=10**10, capabilities=capabilities)))
        assert "openvino_bf16" not in usable
        assert "no native BF16" in notes["openvino_bf16"], notes["openvino_bf16"]
    assert (
        "emulated"
        in _skipped(_input(_profile(macs=10**10, capabilities=_bf16(False))))[1]["openvino_bf16"]
    )
    # Where it is planned it is a precision candidate of its own, beside the INT8s.
    native = _profile(macs=10**10, capabilities=_bf16(True))
    assert "openvino_bf16" in _precision(native)


def test_where_bf16_is_native_the_int8_variant_runs_its_unquantized_layers_in_bf16() -> None:
    census = [OpCount(op_type="Conv", count=64, parameters=10, parameter_share=1.0)]
    silu = [*census, OpCount(op_type="Sigmoid", count=57, parameters=0, parameter_share=0.0)]
    relu = [*census, OpCount(op_type="Relu", count=57, parameters=0, parameter_share=0.0)]

    def configs(census: list[OpCount], fast: bool) -> list[tuple[str, dict[str, Any]]]:
        profile = _profile(op_census=census, macs=10**10, capabilities=_bf16(fast))
        return [
            (c.technique, c.config) for c in _configs(profile) if c.technique == "openvino_int8"
        ]

    assert configs(silu, True) == [
        ("openvino_int8", {}),
        ("openvino_int8", {"preset": "performance", "compute": "bf16"}),
    ]
    assert configs(relu, True) == [("openvino_int8", {}), ("openvino_int8", {"compute": "bf16"})]
    assert configs(silu, False) == [
        ("openvino_int8", {}),
        ("openvino_int8", {"preset": "performance"}),
    ]
    assert configs(relu, False) == [("openvino_int8", {})]


def test_the_threads_step_times_openvino_threads_for_an_onnx_model_that_may_end_on_openvino() -> (
    None
):
    plans, _ = make_plans(_input(_profile(macs=10**9)))
    threads = next(s for p in plans for s in p.steps if s.id == "threads")
    assert {c.technique for c in threads.candidates} == {"ort_threads", "openvino_threads"}
    # Where OpenVINO cannot pay off (a tiny model) or is not the target's runtime, it is not.
    usable, notes = _skipped(_input(_profile(macs=1_100_000)))
    assert "openvino_threads" not in usable and "M MACs" in notes["openvino_threads"]
    onnx_target = _input(_profile(macs=10**9), target="onnxruntime", target_runtime="onnxruntime")
    assert "openvino_threads" not in _skipped(onnx_target)[0]


def test_dynamic_int8_is_not_planned_for_a_convolutional_model_unless_size_needs_it() -> None:
    layers = [
        LayerInfo(name="conv", op_type="Conv", parameters=10, macs=900_000_000),
        LayerInfo(name="head", op_type="Gemm", parameters=10, macs=100_000_000),
    ]
    cnn = _profile(macs=1_000_000_000, layers=layers)
    usable, notes = _skipped(_input(cnn))
    assert "ort_int8_dynamic" not in usable
    assert "it is 90% convolutions" in notes["ort_int8_dynamic"]
    assert "ConvInteger" in notes["ort_int8_dynamic"]
    # A size limit can still need the smaller, slower version; a transformer has no convolutions.
    sized = _input(cnn, constraints=Constraints(max_accuracy_drop=2, max_size_mb=10))
    assert "ort_int8_dynamic" in _skipped(sized)[0]
    linear = [LayerInfo(name="fc", op_type="MatMul", parameters=10, macs=1_000_000_000)]
    assert "ort_int8_dynamic" in _skipped(_input(_profile(macs=10**9, layers=linear)))[0]
    # The op census counts every layer's weights, not only the listed ones.
    census = [OpCount(op_type="Conv", count=36, parameters=21, parameter_share=0.97)]
    assert "ort_int8_dynamic" not in _skipped(_input(_profile(macs=10**9, op_census=census)))[0]


def _runtime_step(profile: ModelProfile, threads: int) -> list[StepCandidate]:
    plans, _ = make_plans(_input(profile, baseline=BASE.model_copy(update={"threads": threads})))
    return next(s for p in plans for s in p.steps if s.id == "runtime").candidates


def test_a_small_model_times_openvino_fp32_on_one_thread_too() -> None:
    # PP-OCR's 16 M MACs: OpenVINO FP32 won on 1 thread and tied ORT on 2 (run 18).
    small = [(c.technique, c.config) for c in _runtime_step(_profile(macs=16_000_000), 2)]
    assert ("openvino_ir", {}) in small
    assert ("openvino_ir", {"intra_op_threads": 1}) in small
    one = next(c for c in _runtime_step(_profile(macs=16_000_000), 2) if c.config)
    assert "16 M MACs" in one.note
    # A large model, a run on one thread, or unknown MACs: no second candidate.
    for profile, threads in (
        (_profile(macs=700_000_000), 2),
        (_profile(macs=16_000_000), 1),
        (_profile(macs=None), 2),
    ):
        assert [c.config for c in _runtime_step(profile, threads)] == [{}], (profile.macs, threads)
