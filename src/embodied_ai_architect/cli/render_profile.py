"""Rich rendering of a ModelProfile: one table per topic, readable in an 100-column terminal."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from embodied_ai_architect.schemas.profile import ModelProfile


def _count(value: int | None) -> str:
    if value is None:
        return "–"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.2f} {suffix}"
    return str(value)


def _bytes(value: int | float | None) -> str:
    if value is None:
        return "–"
    for limit, suffix in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if value >= limit:
            return f"{value / limit:.2f} {suffix}"
    return f"{value:.0f} B"


def _shape(shape: list[int | str] | list[int] | None) -> str:
    return "–" if shape is None else "×".join(str(d) for d in shape)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", expand=False)
    for column in columns:
        justify = "right" if column in {"count", "parameters", "share", "MACs", "bytes"} else "left"
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    return table


def summary_table(profile: ModelProfile) -> Table:
    table = _table(f"Model {profile.model_name}", "field", "value")
    signature_in = ", ".join(f"{s.name} {_shape(s.shape)} {s.dtype}" for s in profile.inputs)
    signature_out = ", ".join(f"{s.name} {_shape(s.shape)} {s.dtype}" for s in profile.outputs)
    rows = [
        ("format / framework", f"{profile.source_format} / {profile.framework}"),
        (
            "file size",
            _bytes(profile.file_bytes)
            if profile.file_bytes or profile.sha256
            else "– (built in memory)",
        ),
        ("parameters", f"{profile.parameters:,} ({_bytes(profile.parameter_bytes)})"),
        ("MACs (batch 1)", _count(profile.macs)),
        ("FLOPs (batch 1)", _count(profile.flops)),
        ("inputs", signature_in),
        ("outputs", signature_out),
        ("family", f"{profile.family.family.value} (confidence {profile.family.confidence:.2f})"),
        ("analysis time", f"{profile.analysis_seconds:.2f} s"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def dtype_table(profile: ModelProfile) -> Table:
    table = _table("Weights by dtype", "dtype", "parameters", "bytes")
    for row in profile.by_dtype:
        table.add_row(row.dtype, f"{row.parameters:,}", _bytes(row.bytes))
    return table


def census_table(profile: ModelProfile, limit: int = 12) -> Table:
    table = _table("Layer census", "op type", "count", "parameters", "share")
    for row in profile.op_census[:limit]:
        table.add_row(
            row.op_type, str(row.count), f"{row.parameters:,}", f"{row.parameter_share:.1%}"
        )
    if len(profile.op_census) > limit:
        table.add_row(f"… {len(profile.op_census) - limit} more", "", "", "")
    return table


def layers_table(profile: ModelProfile) -> Table:
    table = _table("Largest layers", "layer", "op type", "parameters", "MACs", "output")
    for layer in profile.layers:
        table.add_row(
            layer.name,
            layer.op_type,
            f"{layer.parameters:,}",
            _count(layer.macs),
            _shape(layer.output_shape),
        )
    return table


def family_table(profile: ModelProfile) -> Table:
    family = profile.family
    table = _table(f"Architecture: {family.family.value}", "evidence")
    for item in family.evidence:
        table.add_row(item)
    for name, path in family.components.items():
        table.add_row(f"component {name}: {path}")
    return table


def latency_table(profile: ModelProfile) -> Table:
    table = _table(
        "Latency on this host (batch 1)",
        "runtime",
        "p50 ms",
        "p95 ms",
        "runs",
        "threads",
        "peak RSS",
    )
    for stats in profile.latency:
        table.add_row(
            stats.runtime,
            f"{stats.p50_ms:.3f}",
            f"{stats.p95_ms:.3f}",
            str(stats.runs),
            str(stats.threads),
            _bytes(stats.peak_memory_mb * 1e6) if stats.peak_memory_mb is not None else "–",
        )
    return table


def sensitivity_table(profile: ModelProfile) -> Table:
    table = _table("INT8 sensitivity (one layer quantized at a time)", "layer", "op type", "error")
    for row in profile.sensitivity:
        table.add_row(row.layer, row.op_type, f"{row.score:.3%}")
    return table


def host_table(profile: ModelProfile) -> Table:
    host = profile.host
    table = _table("Host", "field", "value")
    table.add_row("CPU", f"{host.cpu_model} ({host.architecture})")
    table.add_row("cores", f"{host.cores_physical or '?'} physical / {host.cores_logical} logical")
    table.add_row("memory", f"{host.memory_gb} GB")
    table.add_row("SIMD", ", ".join(host.cpu_flags) or "–")
    table.add_row("GPU", f"{host.gpu} ({host.gpu_memory_gb} GB)" if host.gpu else "none")
    table.add_row("runtimes", ", ".join(f"{k} {v}" for k, v in host.runtimes.items()))
    return table


def capability_table(profile: ModelProfile) -> Table:
    table = _table(
        "Capabilities (runtime × precision)", "runtime", "precision", "available", "fast", "why"
    )
    for cap in profile.capabilities:
        table.add_row(
            cap.runtime,
            cap.precision,
            "[green]yes[/green]" if cap.available else "[red]no[/red]",
            "[green]yes[/green]" if cap.fast else "no",
            cap.reason,
        )
    return table


def opportunities_table(profile: ModelProfile) -> Table:
    table = _table(
        "Optimization opportunities (best first)", "score", "technique", "why", "expected gain"
    )
    for item in profile.opportunities:
        table.add_row(
            f"{item.score:.1f}",
            item.technique,
            f"[bold]{item.title}[/bold]\n{item.rationale}",
            item.expected_gain,
        )
    return table


def render_profile(profile: ModelProfile, console: Console) -> None:
    """Print the full report: summary, weights, census, layers, family, latency, sensitivity,
    host and capabilities, opportunities, warnings."""
    parts: list[Table | Panel] = [
        summary_table(profile),
        dtype_table(profile),
        census_table(profile),
        layers_table(profile),
        family_table(profile),
    ]
    if profile.latency:
        parts.append(latency_table(profile))
    if profile.sensitivity:
        parts.append(sensitivity_table(profile))
    parts += [host_table(profile), capability_table(profile), opportunities_table(profile)]
    if profile.warnings:
        parts.append(Panel("\n".join(profile.warnings), title="warnings", border_style="yellow"))
    console.print(Group(*parts))
