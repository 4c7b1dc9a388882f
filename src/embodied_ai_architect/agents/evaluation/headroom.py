"""Why a version is not faster: this host's GEMM peaks, the version's arithmetic rate, and the
share of its kernel time spent in arithmetic.

A user comparing the result with another tool's wants to know whether more speed is within
reach at all. Two measured facts answer it: the rate the version computes at against the rate
this CPU reaches on a large GEMM (a small model at 5 % of peak is bound by per-op overhead, not
by arithmetic), and the share of the runtime's kernel time in Conv / MatMul / Gemm kernels,
from which Amdahl's law bounds every technique that only makes arithmetic faster (INT8, sparsity,
a better GEMM library): with share ``s`` the version cannot get more than ``1 / (1 - s)`` faster.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.errors import EvaluationError
from embodied_ai_architect.modelio.handle import Feeds, ModelHandle, OnnxModelHandle
from embodied_ai_architect.modelio.onnx_io import create_session
from embodied_ai_architect.schemas.results import SpeedHeadroom

if TYPE_CHECKING:
    import onnx

    from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle

# Kernels that do the multiply-accumulates, as ONNX Runtime names its ops (after fusion and
# quantization) and as OpenVINO's CPU plugin names its layer types.
ORT_COMPUTE_OPS = frozenset(
    {
        "Conv",
        "ConvInteger",
        "ConvTranspose",
        "FusedConv",
        "NhwcFusedConv",
        "QLinearConv",
        "MatMul",
        "MatMulInteger",
        "MatMulIntegerToFloat",
        "DynamicQuantizeMatMul",
        "FusedMatMul",
        "QLinearMatMul",
        "MatMulNBits",
        "Gemm",
        "FusedGemm",
        "QGemm",
        "Attention",
        "MultiHeadAttention",
    }
)
OPENVINO_COMPUTE_OPS = frozenset(
    {
        "Convolution",
        "GroupConvolution",
        "Deconvolution",
        "ConvolutionBackpropData",
        "FullyConnected",
        "MatMul",
        "Gemm",
        "ScaledDotProductAttention",
    }
)


def compute_op(op: str, names: frozenset[str]) -> bool:
    """A named compute op or one of its variants: OpenVINO's CPU plugin reports quantized and
    weight-compressed layers as e.g. ``FullyConnectedQuantizedLegacy`` (MiniLM's INT8 read 6 %
    arithmetic before this matched it)."""
    return any(op == base or op.startswith(base) for base in names)


GEMM_SIZE = 512  # large enough to reach the kernels' steady rate, small enough to take ~0.1 s
PROFILE_SECONDS = 1.5  # profiled runs stop after this much wall time (at least 3 runs)
RUN_OVERHEAD = "per-call overhead"
LIMITED = 1.3  # a speed-up bound under this is "not within reach" (issue 15's bar over a peer)


@dataclass(frozen=True)
class GemmPeaks:
    """ONNX Runtime's best FP32 and INT8 GEMM rates on this host at ``threads`` threads."""

    fp32_gflops: float
    int8_gops: float
    threads: int
    size: int = GEMM_SIZE


@dataclass(frozen=True)
class KernelProfile:
    """Kernel time per op type over the profiled runs (the runtime's own timings)."""

    by_op: dict[str, float]  # op type -> microseconds per inference
    nodes: int  # kernels per inference
    compute_ops: frozenset[str]
    wall_us: float = 0.0  # median wall time of the profiled runs (the shares' denominator)

    def within(self, wall_us: float, floor_us: float = 0.0) -> KernelProfile:
        """Shares of the measured latency: the time outside kernels (the runtime's per-call
        work: binding inputs, allocating outputs, dispatch) becomes its own entry.

        ``floor_us`` is that per-call work measured on an empty graph with the same inputs.
        The profiler adds its own cost to every kernel, so kernel times are scaled into what
        the latency leaves beyond the floor: on a tiny model the floor, not any kernel, is
        most of the time."""
        kernels = sum(self.by_op.values())
        budget = max(wall_us - floor_us, 0.0)
        scale = budget / kernels if kernels > budget > 0 else 1.0
        by_op = {op: t * scale for op, t in self.by_op.items()}
        outside = wall_us - sum(by_op.values())
        if outside > 0:
            by_op[RUN_OVERHEAD] = outside
        return KernelProfile(by_op, self.nodes, self.compute_ops, wall_us)

    @property
    def compute_share(self) -> float:
        total = sum(self.by_op.values())
        used = sum(t for op, t in self.by_op.items() if self.is_compute(op))
        return used / total if total > 0 else 0.0

    def is_compute(self, op: str) -> bool:
        return compute_op(op, self.compute_ops)

    def top_shares(self, count: int = 6) -> dict[str, float]:
        total = sum(self.by_op.values()) or 1.0
        ranked = sorted(self.by_op.items(), key=lambda kv: kv[1], reverse=True)[:count]
        return {op: round(t / total, 4) for op, t in ranked}


def measure_gemm_peaks(threads: int, *, size: int = GEMM_SIZE, runs: int = 8) -> GemmPeaks:
    """Time a ``size``³ FP32 MatMul and a u8 × s8 MatMulInteger in ONNX Runtime; best run."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    rates: dict[str, float] = {}
    cases = (
        ("fp32", "MatMul", TensorProto.FLOAT, TensorProto.FLOAT),
        ("int8", "MatMulInteger", TensorProto.UINT8, TensorProto.INT32),
    )
    for label, op, a_type, y_type in cases:
        if label == "fp32":
            weight: np.ndarray = rng.standard_normal((size, size)).astype(np.float32)
            a: np.ndarray = rng.standard_normal((size, size)).astype(np.float32)
        else:
            weight = rng.integers(-128, 127, (size, size)).astype(np.int8)
            a = rng.integers(0, 255, (size, size)).astype(np.uint8)
        graph = helper.make_graph(
            [helper.make_node(op, ["a", "b"], ["y"])],
            "gemm",
            [helper.make_tensor_value_info("a", a_type, [size, size])],
            [helper.make_tensor_value_info("y", y_type, [size, size])],
            [numpy_helper.from_array(weight, "b")],
        )
        session = create_session(_probe_model(graph), threads=threads)
        for _ in range(2):
            session.run(None, {"a": a})
        best = float("inf")
        for _ in range(runs):
            started = time.perf_counter()
            session.run(None, {"a": a})
            best = min(best, time.perf_counter() - started)
        # The best run: a peak, not a typical figure (a shared host only ever slows it down).
        rates[label] = 2 * size**3 / best / 1e9
    return GemmPeaks(fp32_gflops=rates["fp32"], int8_gops=rates["int8"], threads=threads, size=size)


def ort_call_floor_us(feeds: Feeds, *, threads: int, runs: int = 200) -> float:
    """Median time of an ORT session that returns its inputs unchanged (Identity per input):
    the per-call cost any model with these inputs pays before its first kernel."""
    from onnx import helper, numpy_helper

    names = sorted(feeds)
    types = {n: numpy_helper.from_array(np.asarray(feeds[n]).ravel()[:0]).data_type for n in names}
    graph = helper.make_graph(
        [helper.make_node("Identity", [n], [f"{n}_out"]) for n in names],
        "floor",
        [helper.make_tensor_value_info(n, types[n], feeds[n].shape) for n in names],
        [helper.make_tensor_value_info(f"{n}_out", types[n], feeds[n].shape) for n in names],
    )
    session = create_session(_probe_model(graph), threads=threads)
    inputs = {n: feeds[n] for n in names}
    times = []
    for _ in range(runs + 10):
        started = time.perf_counter()
        session.run(None, inputs)
        times.append(time.perf_counter() - started)
    return float(np.median(times[10:]) * 1e6)


def _probe_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    """A one-graph model at an opset and IR version every supported ORT reads."""
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _runs_for(p50_ms: float) -> int:
    return int(max(3, min(50, PROFILE_SECONDS * 1000 / max(p50_ms, 1e-3))))


def profile_onnx(path: Path, feeds: Feeds, *, threads: int, runs: int) -> KernelProfile:
    """ONNX Runtime's per-kernel timings (``enable_profiling``) summed by op type."""
    with tempfile.TemporaryDirectory(prefix="branes-profile-") as tmp:
        session = create_session(path, threads=threads, profile_prefix=Path(tmp) / "ort")
        wanted = {i.name for i in session.get_inputs()}
        inputs = {k: v for k, v in feeds.items() if k in wanted}
        session.run(None, inputs)  # first run: allocations, not kernels
        walls = []
        for _ in range(runs):
            started = time.perf_counter()
            session.run(None, inputs)
            walls.append(time.perf_counter() - started)
        events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = defaultdict(float)
    kernels = 0
    for event in events:
        args = event.get("args") or {}
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        by_op[str(args.get("op_name", "?"))] += float(event.get("dur", 0))
        kernels += 1
    calls = runs + 1
    return KernelProfile(
        by_op={op: t / calls for op, t in by_op.items()},
        nodes=round(kernels / calls),
        compute_ops=ORT_COMPUTE_OPS,
        wall_us=float(np.median(walls)) * 1e6,
    )


# Transcendental activations OpenVINO's CPU plugin fuses into the Convolution / FullyConnected
# before them as post-ops: their time is then reported as that layer's. YOLOv8s' INT8 IR spent
# 10.7 of its 21.1 ms of "Convolution" in its 57 SiLUs (measured by removing them).
FUSED_ACTIVATIONS = frozenset(
    {"Swish", "Gelu", "Mish", "HSwish", "Sigmoid", "HSigmoid", "Tanh", "SoftPlus", "Elu", "Exp"}
)


def _after_compute(op: Any) -> bool:
    """Whether ``op`` reads a compute layer's output directly or through its bias Add (what the
    plugin fuses); a classifier's output Sigmoid after a Concat is not."""
    source = op.input_value(0).get_node()
    if source.get_type_name() == "Add":
        source = source.input_value(0).get_node()
    return compute_op(source.get_type_name(), OPENVINO_COMPUTE_OPS)


def without_activations(model: Any) -> int:
    """Bypass every ``FUSED_ACTIVATIONS`` op that follows a compute layer, in place (its input
    becomes its output); returns how many. The numbers change, the layers and their quantizers
    do not: a profile of the result times the same arithmetic without the activations."""
    count = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() in FUSED_ACTIVATIONS and _after_compute(op):
            op.output(0).replace(op.input_value(0))
            count += 1
    if count:
        model.validate_nodes_and_infer_types()
    return count


def profile_openvino(
    xml_path: Path,
    feeds: Feeds,
    *,
    threads: int,
    precision: str | None,
    runs: int,
    model: Any = None,
) -> KernelProfile:
    """OpenVINO CPU plugin performance counters (``PERF_COUNT``) summed by layer type.
    ``model``: an in-memory ``ov.Model`` to profile instead of the IR at ``xml_path``."""
    from embodied_ai_architect.modelio.openvino_io import openvino_core

    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": "YES"}
    config["INFERENCE_NUM_THREADS"] = threads
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = openvino_core().compile_model(
        model if model is not None else str(xml_path), "CPU", config
    )
    request = compiled.create_infer_request()
    names = {port.get_any_name() for port in compiled.inputs}
    inputs = {k: np.ascontiguousarray(v) for k, v in feeds.items() if k in names}
    request.infer(inputs)
    by_op: dict[str, float] = defaultdict(float)
    nodes = 0
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        request.infer(inputs)
        walls.append(time.perf_counter() - started)
        ran = [i for i in request.get_profiling_info() if str(i.status).endswith("EXECUTED")]
        nodes = len(ran)
        for info in ran:
            by_op[str(info.node_type)] += info.real_time.total_seconds() * 1e6
    return KernelProfile(
        by_op={op: t / runs for op, t in by_op.items()},
        nodes=nodes,
        compute_ops=OPENVINO_COMPUTE_OPS,
        wall_us=float(np.median(walls)) * 1e6,
    )


@dataclass(frozen=True)
class ActivationSplit:
    """The fused activations' time, measured by profiling the IR again without them."""

    count: int  # activation ops bypassed
    compute_us: float  # Conv / MatMul kernel time without them
    activation_us: float  # what they added to those kernels


def activation_split(
    handle: OpenVinoModelHandle, feeds: Feeds, *, threads: int, runs: int, compute_us: float
) -> ActivationSplit | None:
    """For an OpenVINO version whose activations fuse into its compute kernels: how much of
    those kernels' ``compute_us`` the activations take (None: it has none)."""
    from embodied_ai_architect.modelio.openvino_io import openvino_core

    model = openvino_core().read_model(str(handle.xml_path))
    count = without_activations(model)
    if not count:
        return None
    bare = profile_openvino(
        handle.xml_path,
        feeds,
        threads=threads,
        precision=handle.inference_precision,
        runs=runs,
        model=model,
    )
    arithmetic = sum(t for op, t in bare.by_op.items() if bare.is_compute(op))
    return ActivationSplit(
        count=count,
        compute_us=min(arithmetic, compute_us),
        activation_us=max(compute_us - arithmetic, 0.0),
    )


def kernel_profile(handle: ModelHandle, feeds: Feeds, *, threads: int, runs: int) -> KernelProfile:
    """The runtime's own kernel timings for ``handle`` (ONNX Runtime or OpenVINO)."""
    from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle

    if isinstance(handle, OnnxModelHandle):
        return profile_onnx(handle.onnx_path, feeds, threads=threads, runs=runs)
    if isinstance(handle, OpenVinoModelHandle):
        return profile_openvino(
            handle.xml_path,
            feeds,
            threads=threads,
            precision=handle.inference_precision,
            runs=runs,
        )
    raise EvaluationError(
        f"no kernel profile for {handle.framework.value} models",
        hint="kernel shares are read from ONNX Runtime's or OpenVINO's own profiler; optimize "
        "for an ONNX Runtime or OpenVINO target to get them",
    )


def amdahl(share: float, speedup: float) -> float:
    """Whole-model speed-up when a part taking ``share`` of the time gets ``speedup``× faster."""
    rest = 1.0 - min(max(share, 0.0), 1.0)
    return 1.0 / max(rest + (1.0 - rest) / speedup, 1e-9)


def speed_headroom(
    *,
    version: str,
    handle: ModelHandle,
    precision: str,
    p50_ms: float,
    macs: int | None,
    peaks: GemmPeaks,
    feeds: Mapping[str, np.ndarray] | None = None,
) -> SpeedHeadroom:
    """Measure how much of ``handle``'s time is arithmetic and what that leaves to gain."""
    threads = peaks.threads
    integer = precision.startswith("int")
    peak = peaks.int8_gops if integer else peaks.fp32_gflops
    gflops = 2 * macs / (p50_ms / 1000) / 1e9 if macs and p50_ms > 0 else None
    figures: dict[str, Any] = {
        "version": version,
        "runtime": handle.framework.value,
        "precision": precision,
        "threads": threads,
        "p50_ms": p50_ms,
        "macs": macs,
        "gflops": gflops,
        "fp32_peak_gflops": peaks.fp32_gflops,
        "int8_peak_gops": peaks.int8_gops,
        "peak_share": gflops / peak if gflops is not None and peak > 0 else None,
    }
    inputs = dict(feeds) if feeds is not None else handle.example_inputs(batch=1, seed=0)
    runs = _runs_for(p50_ms)
    try:
        profile = kernel_profile(handle, inputs, threads=threads, runs=runs)
        floor = (
            ort_call_floor_us(inputs, threads=threads)
            if isinstance(handle, OnnxModelHandle)
            else 0.0
        )
        # Shares of the profiled runs' own wall time: the p50 was timed at another moment,
        # and on a shared host the two differ by more than the overhead being measured.
        profile = profile.within(profile.wall_us, floor)
    except EvaluationError as exc:
        figures["error"] = f"{exc.message} ({exc.hint})"
    else:
        figures |= {"nodes": profile.nodes, "op_shares": profile.top_shares()}
        share, split_figures = _arithmetic_share(handle, inputs, profile, threads, runs)
        figures |= split_figures
        figures |= {
            "compute_share": share,
            "bound_free_arithmetic": 1.0 / max(1.0 - share, 1e-9),
        }
        if not integer and peaks.fp32_gflops > 0:
            figures["bound_int8"] = amdahl(share, peaks.int8_gops / peaks.fp32_gflops)
        figures |= at_peak(macs, share, profile.wall_us, peaks.int8_gops)
    headroom = SpeedHeadroom(**figures)
    return headroom.model_copy(update={"explanation": explain(headroom)})


def _arithmetic_share(
    handle: ModelHandle, inputs: Feeds, profile: KernelProfile, threads: int, runs: int
) -> tuple[float, dict[str, Any]]:
    """The share of ``profile``'s time that is arithmetic, and the figures that say how it was
    found: for OpenVINO without the activations fused into the compute kernels."""
    from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle

    share = profile.compute_share
    if not isinstance(handle, OpenVinoModelHandle):
        return share, {}
    try:
        split = activation_split(
            handle, inputs, threads=threads, runs=runs, compute_us=share * profile.wall_us
        )
    except Exception as exc:  # the bypassed graph must compile; say so if it does not
        return share, {"error": f"fused activations not measured apart: {exc}"[:300]}
    if split is None:
        return share, {}
    return split.compute_us / profile.wall_us, {
        "fused_activations": split.count,
        "activation_share": split.activation_us / profile.wall_us,
    }


def at_peak(macs: int | None, share: float, wall_us: float, peak_gops: float) -> dict[str, float]:
    """The kernels' own rate and the whole-model bound if they ran at ``peak_gops``.

    The INT8 peak bounds every precision: no arithmetic this host measured is faster, so a
    floating-point version converted to INT8 is bounded by it too. Kernels already at or past it
    (a peak measured on one GEMM shape, a fused activation counted as arithmetic) leave 1.0."""
    kernel_us = share * wall_us
    if not macs or kernel_us <= 0 or peak_gops <= 0:
        return {}
    rate = 2 * macs / (kernel_us / 1e6) / 1e9
    return {"kernel_gops": rate, "bound_at_peak": amdahl(share, max(peak_gops / rate, 1.0))}


def _kernel_bound(h: SpeedHeadroom) -> str:
    """The tighter clause: those kernels at the measured INT8 peak, else (no MAC count) at the
    host's INT8/FP32 GEMM ratio."""
    if h.bound_at_peak is not None and h.kernel_gops is not None:
        return (
            f", and with those kernels (now {h.kernel_gops:.3g} G/s) at this host's measured "
            f"INT8 GEMM peak ({h.int8_peak_gops:.0f} GOP/s) at most {h.bound_at_peak:.2f}×"
        )
    if h.bound_int8 is not None:
        return (
            f", and INT8 kernels at this host's INT8/FP32 GEMM ratio "
            f"({h.int8_peak_gops / max(h.fp32_peak_gflops, 1e-9):.1f}×) at most "
            f"{h.bound_int8:.2f}×"
        )
    return ""


def explain(h: SpeedHeadroom) -> str:
    """The headroom in the user's terms: what the time goes to, and what that leaves to gain."""
    unit = "GOP/s" if h.precision.startswith("int") else "GFLOP/s"
    peak = h.int8_peak_gops if h.precision.startswith("int") else h.fp32_peak_gflops
    parts = []
    if h.gflops is not None and h.macs is not None and h.peak_share is not None:
        parts.append(
            f"{h.version} ({h.precision}, {h.runtime}, {h.threads} thread"
            f"{'s' if h.threads > 1 else ''}) computes {h.macs / 1e6:.3g} M MACs in "
            f"{h.p50_ms:.3g} ms: {h.gflops:.3g} {unit}, {h.peak_share * 100:.0f} % of the "
            f"{peak:.0f} {unit} this host reaches on a {GEMM_SIZE}³ GEMM"
        )
    if h.compute_share is not None and h.bound_free_arithmetic is not None:
        others = [
            op for op in h.op_shares if not compute_op(op, ORT_COMPUTE_OPS | OPENVINO_COMPUTE_OPS)
        ]
        free = (
            f"at most {h.bound_free_arithmetic:.2f}× faster"
            if h.bound_free_arithmetic < 100
            else "arbitrarily faster"
        )
        fused = (
            f", not counting the {h.fused_activations} activations fused into them, which take "
            f"another {h.activation_share * 100:.0f} % (measured by profiling it without them)"
            if h.fused_activations and h.activation_share is not None
            else ""
        )
        parts.append(
            f"Conv/MatMul/Gemm kernels take {h.compute_share * 100:.0f} % of its time{fused} "
            f"({h.nodes} kernels per inference"
            + (f"; the rest mostly {', '.join(others[:3])}" if others else "")
            + f"), so even free arithmetic would make it {free}"
            + _kernel_bound(h)
        )
        bound = min(
            b for b in (h.bound_at_peak, h.bound_int8, h.bound_free_arithmetic) if b is not None
        )
        if bound < LIMITED:
            rest = f"the other {(1 - h.compute_share) * 100:.0f} % is "
            if h.fused_activations and h.activation_share:
                rest += (
                    f"the activations ({h.activation_share * 100:.0f} %) and per-op and per-call "
                    "work, which only cheaper activations or fewer ops reduce"
                )
            else:
                rest += (
                    "per-op and per-call work, which only fewer or fused ops (or fewer threads, "
                    "on a tiny model) reduce"
                )
            parts.append(
                "no technique that only speeds arithmetic up (INT8, sparsity, another GEMM "
                f"library) can reach {LIMITED:g}× from here: {rest}"
            )
    elif h.error:
        parts.append(f"no kernel profile: {h.error}")
    return "; ".join(parts) + "." if parts else ""
