"""Host probe parsing and the capability matrix's reasoning from CPU flags."""

from __future__ import annotations

import importlib.metadata

import pytest

from embodied_ai_architect.agents.analysis import host as host_module
from embodied_ai_architect.agents.analysis.host import (
    capability_matrix,
    installed_runtimes,
    probe_host,
    read_cpu,
)
from embodied_ai_architect.schemas.profile import Capability, HostInfo

X86 = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 sse4_2 avx avx2 fma f16c
"""
ARM = """processor\t: 0
Features\t: fp asimd evtstrm aes asimdhp asimddp i8mm
CPU part\t: 0xd40
"""


def _host(flags: list[str], runtimes: dict[str, str], gpu: str | None = None) -> HostInfo:
    return HostInfo(
        cpu_model="test",
        architecture="x86_64",
        cores_logical=2,
        cpu_flags=flags,
        memory_gb=8,
        gpu=gpu,
        runtimes=runtimes,
        os="Linux",
        python="3.11",
    )


def _cell(rows: list[Capability], runtime: str, precision: str) -> Capability:
    return next(c for c in rows if c.runtime == runtime and c.precision == precision)


def test_cpuinfo_parsing_for_x86_and_arm() -> None:
    x86 = read_cpu(X86)
    assert x86.model == "AMD EPYC 7B13"
    assert {"avx2", "fma", "f16c"} <= x86.flags and "avx512f" not in x86.flags
    arm = read_cpu(ARM)
    assert {"asimddp", "i8mm", "asimdhp"} <= arm.flags


def test_avx2_without_vnni_marks_int8_available_but_not_fast() -> None:
    rows = capability_matrix(_host(["avx2", "fma", "f16c"], {"onnxruntime": "1.31"}))
    int8 = _cell(rows, "onnxruntime", "int8")
    assert int8.available and not int8.fast
    assert "without VNNI" in int8.reason and "≤2×" in int8.reason
    fp16 = _cell(rows, "onnxruntime", "fp16")
    assert not fp16.fast and "F16C only converts" in fp16.reason


def test_vnni_makes_int8_fast_and_missing_runtimes_are_unavailable() -> None:
    rows = capability_matrix(_host(["avx2", "avx512f", "avx512_vnni"], {"onnxruntime": "1.31"}))
    assert _cell(rows, "onnxruntime", "int8").fast
    torch_row = _cell(rows, "torch", "fp32")
    assert not torch_row.available and "not installed" in torch_row.reason
    trt = _cell(rows, "tensorrt", "fp16")
    assert not trt.available and "no NVIDIA GPU" in trt.reason


def test_arm_dot_product_counts_as_fast_int8() -> None:
    rows = capability_matrix(_host(["neon", "asimddp", "asimdhp"], {"onnxruntime": "1.31"}))
    assert _cell(rows, "onnxruntime", "int8").fast


def test_probe_reads_this_machine() -> None:
    host = probe_host()
    assert host.cores_logical >= 1 and host.memory_gb > 0
    assert host.runtimes["onnxruntime"] == importlib.metadata.version("onnxruntime")
    assert host.runtimes["torch"] == importlib.metadata.version("torch")
    assert set(host.cpu_flags) <= set(read_cpu().flags) | {"neon"}
    assert installed_runtimes() == host.runtimes


def test_openvino_bf16_counts_as_native_only_with_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    # The plugin's own list is this host's; the question here is what the CPU flags decide.
    monkeypatch.setattr(host_module, "openvino_cpu_capabilities", lambda: ("FP32", "BF16", "INT8"))
    amx, _ = host_module.openvino_bf16(frozenset({"avx512f", "avx512_bf16", "amx_bf16"}))
    assert amx
    avx512, why = host_module.openvino_bf16(frozenset({"avx512f", "avx512_bf16"}))
    assert not avx512 and "no AMX" in why and "slower than its FP32" in why
    arm, _ = host_module.openvino_bf16(frozenset({"neon", "bf16"}))
    assert arm
    # The torch row keeps AVX512-BF16 as native: only OpenVINO's was measured slower.
    rows = capability_matrix(_host(["avx512f", "avx512_bf16"], {"torch": "2.13"}))
    assert _cell(rows, "torch", "bf16").fast
