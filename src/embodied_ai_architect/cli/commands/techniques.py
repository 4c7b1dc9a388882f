"""`branes techniques list/show`: the registered optimization techniques and their configs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

techniques_app = typer.Typer(
    help="Registered optimization techniques: list, show one's manifest and config.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@techniques_app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """Every registered technique (built-ins and plugins) and whether it can run on this host."""
    from rich.markup import escape
    from rich.table import Table

    from embodied_ai_architect.agents.optimization.base import load_techniques
    from embodied_ai_architect.cli.console import console
    from embodied_ai_architect.schemas.techniques import TechniqueSummary

    rows = [TechniqueSummary.from_spec(spec) for _, spec in load_techniques().items()]
    if as_json:
        typer.echo(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return
    table = Table(title="optimization techniques")
    for column in ("name", "family", "runtime", "precisions", "needs data", "availability"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            row.family,
            row.runtime,
            ", ".join(row.precisions) or "–",
            row.needs_data,
            escape(row.availability) if row.available else f"[red]{escape(row.availability)}[/red]",
        )
    console().print(table)


@techniques_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Technique name, e.g. ort_int8_static.")],
    as_json: JsonFlag = False,
) -> None:
    """One technique's manifest, config fields (defaults, descriptions, search candidates)."""
    from rich.markup import escape
    from rich.table import Table

    from embodied_ai_architect.agents.optimization.base import get_technique
    from embodied_ai_architect.cli.console import console
    from embodied_ai_architect.schemas.techniques import TechniqueInfo

    info = TechniqueInfo.from_spec(get_technique(name))
    if as_json:
        typer.echo(info.model_dump_json(indent=2))
        return
    out = console()
    out.print(f"[bold]{info.name}[/bold] — {escape(info.description)}", highlight=False)
    manifest = {
        "family": info.family,
        "runtime": info.runtime,
        "input frameworks": ", ".join(info.input_frameworks),
        "output framework": info.output_framework,
        "precisions": ", ".join(info.precisions) or "unchanged",
        "model families": ", ".join(info.model_families) if info.model_families else "any",
        "needs data": info.needs_data,
        "needs CUDA": "yes" if info.needs_cuda else "no",
        "needs an eager module": "yes" if info.needs_eager_module else "no",
        "requires": ", ".join(info.requires) or "–",
        "pip extra": info.extra or "–",
        "availability": info.availability,
    }
    for key, value in manifest.items():
        out.print(f"  {key:<22} {escape(value)}", highlight=False)
    table = Table(title=f"config: {info.config_class}")
    for column in ("field", "type", "default", "search", "description"):
        table.add_column(column)
    for field in info.fields:
        bounds = f" ({', '.join(field.constraints)})" if field.constraints else ""
        table.add_row(
            field.name,
            escape(field.type + bounds),
            "required" if field.required else escape(json.dumps(field.default)),
            escape(", ".join(json.dumps(v) for v in field.search)) if field.search else "–",
            escape(field.description),
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(techniques_app, name="techniques")
