"""Speed headroom: the host's GEMM peaks and a version's kernel shares, measured with the real
runtimes (ONNX Runtime's profiler, OpenVINO's performance counters), and what they bound."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from embodied_ai_architect.agents.evaluation.headroom import (
    RUN_OVERHEAD,
    GemmPeaks,
    KernelProfile,
    amdahl,
    at_peak,
    measure_gemm_peaks,
    speed_headroom,
    without_activations,
)
from embodied_ai_architect.agents.evaluation.latency import measure_latency
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.pipeline import run_optimize
from embodied_ai_architect.schemas.results import OptimizeRequest
from embodied_ai_architect.settings import get_settings
from embodied_ai_architect.utils.deps import has_package

NOT_REACHABLE = "no technique that only speeds arithmetic up"


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def gemm_heavy(path: Path) -> Path:
    """One 256 × 1024 × 1024 MatMul: nearly all of its time is arithmetic."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((1024, 1024)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "gemm_heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [256, 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [256, 1024])],
        [w],
    )
    return _save(graph, path)


def elementwise_heavy(path: Path) -> Path:
    """A 64 × 8 × 8 MatMul after 24 elementwise ops over 256 k values: arithmetic is a sliver."""
    rng = np.random.default_rng(0)
    nodes, prev = [], "x"
    for i in range(8):
        nodes += [
            helper.make_node("Mul", [prev, "k"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", "k"], [f"a{i}"]),
            helper.make_node("Tanh", [f"a{i}"], [f"t{i}"]),
        ]
        prev = f"t{i}"
    nodes += [
        helper.make_node("Slice", [prev, "starts", "ends", "axes"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.float32(0.5).reshape(()), "k"),
        numpy_helper.from_array(np.array([0], np.int64), "starts"),
        numpy_helper.from_array(np.array([512], np.int64), "ends"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array([64, 8], np.int64), "shape"),
        numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "w"),
    ]
    graph = helper.make_graph(
        nodes,
        "elementwise_heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 262144])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 8])],
        inits,
    )
    return _save(graph, path)


@pytest.fixture(scope="module")
def peaks() -> GemmPeaks:
    return measure_gemm_peaks(2)


def _headroom(path: Path, peaks: GemmPeaks, macs: int, precision: str = "fp32"):  # type: ignore[no-untyped-def]
    handle = load_model(path, threads=2)
    p50 = measure_latency(handle, threads=2, warmup=3, runs=20).p50_ms
    return speed_headroom(
        version="v0", handle=handle, precision=precision, p50_ms=p50, macs=macs, peaks=peaks
    )


def test_gemm_peaks_are_measured_rates(peaks: GemmPeaks) -> None:
    assert peaks.threads == 2 and peaks.size == 512
    # Any CPU this runs on does more than 1 GFLOP/s on a 512³ GEMM, and less than 100 TFLOP/s.
    assert 1 < peaks.fp32_gflops < 1e5 and 1 < peaks.int8_gops < 1e5


def test_amdahl_bounds_the_whole_model_by_the_share_that_gets_faster() -> None:
    assert amdahl(0.5, 2.0) == pytest.approx(1 / 0.75)
    assert amdahl(0.0, 10.0) == pytest.approx(1.0)
    assert amdahl(1.0, 4.0) == pytest.approx(4.0)


def int8_gemm(path: Path, size: int = 512) -> Path:
    """The u8 × s8 ``MatMulInteger`` the INT8 peak is measured on: a version already at it."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.integers(-128, 127, (size, size)).astype(np.int8), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["x", "w"], ["y"])],
        "int8_gemm",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [size, size])],
        [w],
    )
    return _save(graph, path)


def test_the_bound_at_peak_speeds_up_only_the_kernels_to_the_int8_peak() -> None:
    # YOLOv8s' INT8 IR on the AMX Xeon: 14.3 G MACs, 35 % of 29.6 ms in convolutions (the SiLU
    # activations take most of the rest), INT8 peak 3866 GOP/s.
    figures = at_peak(14_300_000_000, 0.35, 29_600.0, 3866.0)
    assert figures["kernel_gops"] == pytest.approx(2 * 14.3e9 / (0.35 * 29.6e-3) / 1e9)
    assert figures["bound_at_peak"] == pytest.approx(amdahl(0.35, 3866.0 / figures["kernel_gops"]))
    assert 1.05 < figures["bound_at_peak"] < 1.15  # free arithmetic would still allow 1.54×
    # Kernels measured past the peak leave nothing; no MAC count, no claim.
    assert at_peak(10**9, 0.9, 100.0, 1000.0)["bound_at_peak"] == pytest.approx(1.0)
    assert at_peak(None, 0.9, 100.0, 1000.0) == {}


def test_profile_shares_are_of_the_measured_latency() -> None:
    # The profiler inflates kernels (sum 120 µs) past what a 100 µs p50 minus a 40 µs call floor
    # leaves: they are scaled into the 60 µs, and the floor becomes its own entry.
    profile = KernelProfile(
        {"MatMul": 90.0, "Add": 30.0}, nodes=2, compute_ops=frozenset({"MatMul"})
    )
    scaled = profile.within(100.0, 40.0)
    assert scaled.by_op["MatMul"] == pytest.approx(45.0)
    assert scaled.by_op[RUN_OVERHEAD] == pytest.approx(40.0)
    assert scaled.compute_share == pytest.approx(0.45)
    # Kernels that fit: kept as measured, the rest of the latency is per-call overhead.
    assert profile.within(200.0).by_op[RUN_OVERHEAD] == pytest.approx(80.0)


def test_a_gemm_bound_model_has_room_and_an_elementwise_one_does_not(
    tmp_path: Path, peaks: GemmPeaks
) -> None:
    heavy = _headroom(gemm_heavy(tmp_path / "gemm.onnx"), peaks, macs=256 * 1024 * 1024)
    assert heavy.error is None and heavy.compute_share is not None
    assert heavy.compute_share > 0.6, heavy.op_shares
    assert heavy.bound_free_arithmetic is not None and heavy.bound_free_arithmetic > 2.5
    assert heavy.bound_int8 is not None and 1.3 < heavy.bound_int8 <= heavy.bound_free_arithmetic
    assert heavy.peak_share is not None and heavy.peak_share > 0.05
    # FP32 kernels are far below the INT8 peak: converting them is the room that is left.
    assert heavy.bound_at_peak is not None and heavy.bound_at_peak > 1.3
    assert NOT_REACHABLE not in heavy.explanation

    light = _headroom(elementwise_heavy(tmp_path / "ew.onnx"), peaks, macs=64 * 8 * 8)
    assert light.compute_share is not None and light.compute_share < 0.15, light.op_shares
    assert light.bound_int8 is not None and light.bound_int8 < 1.3
    assert light.nodes is not None and light.nodes >= 20
    assert {"Mul", "Tanh", "Add"} & set(light.op_shares)
    assert NOT_REACHABLE in light.explanation
    assert f"{light.macs / 1e6:.3g} M MACs" in light.explanation


def test_a_version_at_the_int8_peak_has_no_room_though_its_time_is_arithmetic(
    tmp_path: Path, peaks: GemmPeaks
) -> None:
    # Nearly all of its time is the GEMM, so "free arithmetic" promises a lot; but the GEMM
    # already runs at the rate the peak was measured at, so no arithmetic-only technique helps.
    h = _headroom(int8_gemm(tmp_path / "int8.onnx"), peaks, macs=512**3, precision="int8")
    assert h.error is None and h.compute_share is not None and h.compute_share > 0.6
    assert h.bound_free_arithmetic is not None and h.bound_free_arithmetic > 2.5
    assert h.kernel_gops is not None and h.kernel_gops > 0.3 * peaks.int8_gops
    assert h.bound_at_peak is not None and h.bound_at_peak < h.bound_free_arithmetic / 1.5
    assert "measured INT8 GEMM peak" in h.explanation
    assert (NOT_REACHABLE in h.explanation) == (h.bound_at_peak < 1.3)


@pytest.mark.skipif(not has_package("openvino"), reason="openvino extra")
def test_openvino_versions_are_profiled_with_its_performance_counters(
    tmp_path: Path, peaks: GemmPeaks
) -> None:
    import openvino as ov

    from embodied_ai_architect.modelio.openvino_io import load_openvino

    src = gemm_heavy(tmp_path / "gemm.onnx")
    xml = tmp_path / "gemm.xml"
    ov.save_model(ov.convert_model(str(src)), str(xml))
    handle = load_openvino(xml, threads=2)
    p50 = measure_latency(handle, threads=2, warmup=3, runs=10).p50_ms
    h = speed_headroom(
        version="v1", handle=handle, precision="fp32", p50_ms=p50, macs=None, peaks=peaks
    )
    assert h.runtime == "openvino" and h.error is None
    assert h.compute_share is not None and h.compute_share > 0.5, h.op_shares
    assert h.gflops is None and h.peak_share is None  # MACs not known: no rate claimed


def test_a_runtime_without_a_profiler_says_so(peaks: GemmPeaks) -> None:
    import torch

    from embodied_ai_architect.modelio.torch_io import handle_from_module

    handle = handle_from_module(torch.nn.Linear(4, 2).eval(), input_shapes=[[1, 4]])
    h = speed_headroom(
        version="v0", handle=handle, precision="fp32", p50_ms=0.01, macs=8, peaks=peaks
    )
    assert h.compute_share is None and h.error is not None and "no kernel profile" in h.error
    assert "no kernel profile" in h.explanation


def test_the_optimize_report_explains_the_headroom(tmp_path: Path) -> None:
    path = elementwise_heavy(tmp_path / "ew.onnx")
    report = run_optimize(
        OptimizeRequest(
            model_path=path,
            constraints={"max_accuracy_drop": 1, "budget": {"max_attempts": 1}},
            latency_runs=10,
            max_eval_samples=8,
            model_memory=False,
            out_dir=tmp_path / "out",
        ),
        settings=get_settings(),
    )
    h = report.headroom
    assert h is not None and report.best is not None and h.version == report.best.id
    assert h.p50_ms == pytest.approx(report.best.metrics.p50_ms)
    # The analysis' count: the chosen version (FP32, or INT8 on hosts where it wins, with its
    # scales and zero points weighing far more than 2 % of this model) keeps the weights' shapes.
    assert h.macs == 64 * 8 * 8
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["headroom"]["explanation"] == h.explanation
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Speed headroom" in html and h.explanation.split(";")[0] in html

    off = run_optimize(
        OptimizeRequest(
            model_path=path,
            constraints={"max_accuracy_drop": 1, "budget": {"max_attempts": 1}},
            latency_runs=10,
            max_eval_samples=8,
            model_memory=False,
            speed_headroom=False,
            out_dir=tmp_path / "off",
        ),
        settings=get_settings(),
    )
    assert off.headroom is None


@pytest.mark.skipif(not has_package("nncf"), reason="openvino extra")
def test_openvino_int8_layers_count_as_arithmetic(tmp_path: Path, peaks: GemmPeaks) -> None:
    # The CPU plugin names a quantized MatMul e.g. FullyConnectedQuantizedLegacy, not
    # FullyConnected: it is still the arithmetic (MiniLM's INT8 once read 6 % compute).
    import nncf
    import openvino as ov

    from embodied_ai_architect.modelio.openvino_io import load_openvino

    model = ov.convert_model(str(gemm_heavy(tmp_path / "gemm.onnx")))
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((256, 1024)).astype(np.float32) for _ in range(4)]
    quantized = nncf.quantize(model, nncf.Dataset(samples), subset_size=4)
    xml = tmp_path / "gemm_int8.xml"
    ov.save_model(quantized, str(xml))
    handle = load_openvino(xml, threads=2)
    p50 = measure_latency(handle, threads=2, warmup=3, runs=10).p50_ms
    h = speed_headroom(
        version="v1", handle=handle, precision="int8", p50_ms=p50, macs=None, peaks=peaks
    )
    assert h.error is None and h.compute_share is not None
    layers = sum(share for op, share in h.op_shares.items() if op.startswith("FullyConnected"))
    assert layers > 0.2, h.op_shares  # the quantized MatMul itself, whatever its suffix
    assert h.compute_share == pytest.approx(layers, abs=0.01), h.op_shares


def silu_convs(path: Path, layers: int = 3, channels: int = 8, side: int = 160) -> Path:
    """3×3 convolutions each followed by x·sigmoid(x) written out (as exporters write SiLU),
    which OpenVINO's converter turns into Swish and its CPU plugin fuses into the convolution."""
    rng = np.random.default_rng(0)
    nodes, inits, prev, cin = [], [], "x", 3
    for i in range(layers):
        w = rng.standard_normal((channels, cin, 3, 3)).astype(np.float32) * 0.1
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [
            helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", [f"c{i}"], [f"s{i}"]),
            helper.make_node("Mul", [f"c{i}", f"s{i}"], [f"y{i}"]),
        ]
        prev, cin = f"y{i}", channels
    graph = helper.make_graph(
        nodes,
        "silu_convs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, channels, side, side])],
        inits,
    )
    return _save(graph, path)


@pytest.mark.skipif(not has_package("openvino"), reason="openvino extra")
def test_without_activations_bypasses_them_and_keeps_the_layers(tmp_path: Path) -> None:
    import openvino as ov

    model = ov.convert_model(str(silu_convs(tmp_path / "silu.onnx")))
    kinds = [op.get_type_name() for op in model.get_ops()]
    assert kinds.count("Swish") == 3  # the converter fused each x·sigmoid(x)
    assert without_activations(model) == 3
    kinds = [op.get_type_name() for op in model.get_ops()]
    assert "Swish" not in kinds and kinds.count("Convolution") == 3
    assert list(model.outputs[0].get_shape()) == [1, 8, 160, 160]


@pytest.mark.skipif(not has_package("openvino"), reason="openvino extra")
def test_activations_fused_into_convolutions_are_not_counted_as_arithmetic(
    tmp_path: Path, peaks: GemmPeaks
) -> None:
    # The plugin reports each SiLU's time as its convolution's; the headroom profiles the IR a
    # second time without them, so the arithmetic share and the bound at the peak are the
    # convolutions' own, and the SiLUs get a share of their own.
    import openvino as ov

    from embodied_ai_architect.modelio.openvino_io import load_openvino

    xml = tmp_path / "silu.xml"
    ov.save_model(ov.convert_model(str(silu_convs(tmp_path / "silu.onnx"))), str(xml))
    handle = load_openvino(xml, threads=2)
    macs = 160 * 160 * 9 * (3 * 8 + 2 * 8 * 8)
    p50 = measure_latency(handle, threads=2, warmup=3, runs=10).p50_ms
    h = speed_headroom(
        version="v1", handle=handle, precision="fp32", p50_ms=p50, macs=macs, peaks=peaks
    )
    assert h.error is None and h.fused_activations == 3
    assert h.activation_share is not None and h.activation_share > 0.05, h
    assert h.compute_share is not None
    # What the profiler calls Convolution is the arithmetic plus the fused activations.
    convolution = h.op_shares["Convolution"]
    assert h.compute_share + h.activation_share == pytest.approx(convolution, abs=0.05)
    assert h.compute_share < convolution
    assert "activations fused into them" in h.explanation
