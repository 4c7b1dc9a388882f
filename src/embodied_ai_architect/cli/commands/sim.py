"""`branes sim ...`: generate / validate scenes, train reference policies, roll out, evaluate.

MuJoCo and torch are imported inside the commands, never at CLI start-up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from embodied_ai_architect.cli.console import console, progress_bar
from embodied_ai_architect.cli.options import add_command_group


def register(app: typer.Typer) -> None:
    add_command_group(
        app,
        "sim",
        "Closed-loop simulation: MuJoCo scene suites, reference policies, success rates.",
        {
            "suites": suites,
            "generate": generate,
            "validate": validate,
            "train-policy": train_policy,
            "rollout": rollout,
            "eval": eval_command,
        },
    )


def _sink_adapter(sink):  # type: ignore[no-untyped-def]
    from embodied_ai_architect.schemas.progress import ProgressEvent

    def report(percent: float, message: str) -> None:
        sink(ProgressEvent(percent=min(max(percent, 0), 100), stage="simulation", message=message))

    return report


def _parse_seeds(text: str) -> list[int]:
    from embodied_ai_architect.errors import InputError

    try:
        if "-" in text:
            lo, hi = (int(part) for part in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"bad seed list {text!r}", hint="use e.g. 0-19 or 3,5,8") from None


def suites() -> None:
    """List the benchmark suites (name/split) and their scene counts."""
    from rich.table import Table

    from embodied_ai_architect.sim.suites import list_suites, load_suite

    table = Table(title="simulation suites")
    for column in ("suite", "family", "version", "scenes", "seeds", "max steps"):
        table.add_column(column)
    for suite_id in list_suites():
        suite = load_suite(suite_id)
        seeds = f"{suite.seeds[0]}..{suite.seeds[-1]}"
        table.add_row(
            suite_id,
            suite.family,
            str(suite.spec.version),
            str(len(suite.seeds)),
            seeds,
            str(suite.spec.max_steps),
        )
    console().print(table)


def generate(
    family: Annotated[str, typer.Option("--family", "-f", help="reach or push.")] = "reach",
    seed: Annotated[int, typer.Option("--seed", "-s", help="Scene seed.")] = 0,
    suite: Annotated[
        str | None, typer.Option("--suite", help="Write every scene of a suite instead.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File (one scene) or folder (--suite).")
    ] = None,
) -> None:
    """Generate a scene's MJCF (validated) or all scenes of a suite with their manifest."""
    from embodied_ai_architect.sim.env import make_scene
    from embodied_ai_architect.sim.suites import build_scenes, load_suite, manifest_for

    if suite is not None:
        resolved = load_suite(suite)
        scenes = build_scenes(resolved)
        folder = out or Path(resolved.suite_id.replace("/", "-"))
        folder.mkdir(parents=True, exist_ok=True)
        for scene in scenes:
            (folder / f"{scene.family}-{scene.seed}.xml").write_text(scene.xml)
        manifest = manifest_for(resolved, scenes).write(folder / "manifest.json")
        console().print(f"wrote {len(scenes)} validated scenes and {manifest}")
        return
    scene = make_scene(family, seed)
    if out is None:
        typer.echo(scene.xml)
    else:
        out.write_text(scene.xml)
        console().print(f"wrote {out} (sha256 {scene.report.xml_sha256[:12]}, valid)")


def validate(
    suite: Annotated[str | None, typer.Option("--suite", help="Validate a whole suite.")] = None,
    family: Annotated[str, typer.Option("--family", "-f", help="Scene family.")] = "reach",
    seeds: Annotated[str, typer.Option("--seeds", help="e.g. 0-19 or 3,5,8.")] = "0-9",
    xml: Annotated[
        Path | None, typer.Option("--xml", help="Validate an MJCF file against --family.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Validate scenes and report, per seed, whether they are valid and why not."""
    from rich.table import Table

    from embodied_ai_architect.sim.scenes import generate_scene
    from embodied_ai_architect.sim.suites import load_suite
    from embodied_ai_architect.sim.validation import validate_mjcf

    reports = []
    if xml is not None:
        reports.append(validate_mjcf(xml.read_text(), family=family))
    else:
        if suite is not None:
            resolved = load_suite(suite)
            family, seed_list = resolved.family, resolved.seeds
        else:
            seed_list = _parse_seeds(seeds)
        for seed in seed_list:
            _, text = generate_scene(family, seed)
            reports.append(validate_mjcf(text, family=family, seed=seed))
    if as_json:
        typer.echo(json.dumps([r.model_dump() | {"ok": r.ok} for r in reports], indent=2))
    else:
        table = Table(title=f"scene validation ({family})")
        for column in ("seed", "valid", "max penetration mm", "max |qvel|", "reason"):
            table.add_column(column)
        for r in reports:
            table.add_row(
                str(r.seed if r.seed is not None else "-"),
                "[green]yes[/green]" if r.ok else "[red]no[/red]",
                f"{r.max_penetration * 1000:.2f}",
                f"{r.max_abs_qvel:.2f}",
                "" if r.ok else r.summary(),
            )
        console().print(table)
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def train_policy(
    task: Annotated[str, typer.Option("--task", help="reach or push.")] = "reach",
    kind: Annotated[str, typer.Option("--kind", help="mlp (state) or vla (image+text).")] = "mlp",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output .pt (default: workspace/policies/<task>-<kind>.pt)."
        ),
    ] = None,
    episodes: Annotated[int | None, typer.Option("--episodes", help="Expert episodes.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Training seed.")] = 0,
    dagger_rounds: Annotated[
        int | None,
        typer.Option(
            "--dagger-rounds", help="DAgger rounds after plain BC (default: 4 for mlp, 6 for vla)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain even if cached.")] = False,
) -> None:
    """Behaviour-clone the scripted expert into a reference policy (.pt TorchScript + .onnx)."""
    from embodied_ai_architect.sim.training import default_policy_path
    from embodied_ai_architect.sim.training import train_policy as train

    target = out or default_policy_path(task, kind)
    if target.exists() and not force:
        console().print(f"cached: {target} (use --force to retrain)")
        return
    with progress_bar(f"training {task}-{kind}") as sink:
        result = train(
            task,
            kind,
            out=target,
            episodes=episodes,
            epochs=epochs,
            seed=seed,
            dagger_rounds=dagger_rounds,
            progress=_sink_adapter(sink),
        )
    console().print(
        f"saved {result.torchscript_path} and {result.onnx_path} "
        f"({result.samples} samples, loss {result.final_loss:.4f}, {result.seconds:.0f} s)"
    )


def _policy(model: Path | None, task: str):  # type: ignore[no-untyped-def]
    from embodied_ai_architect.sim.policy_io import ExpertPolicy, HandlePolicy

    if model is None:
        return ExpertPolicy(task)
    from embodied_ai_architect.modelio.loader import load_model

    return HandlePolicy(load_model(model), name=model.name)


def rollout(
    model: Annotated[
        Path | None, typer.Argument(help="Policy file; omit to run the scripted expert.")
    ] = None,
    task: Annotated[str, typer.Option("--task", help="reach or push.")] = "reach",
    seed: Annotated[int, typer.Option("--seed", "-s", help="Scene seed.")] = 1000,
    render: Annotated[
        Path | None, typer.Option("--render", help="Write a video: out.gif or out.mp4.")
    ] = None,
    trace: Annotated[Path | None, typer.Option("--trace", help="Write the JSONL trace.")] = None,
) -> None:
    """Run one episode, optionally rendering it to a video and writing its action trace."""
    from embodied_ai_architect.sim.env import make_scene
    from embodied_ai_architect.sim.rollout import run_episode, write_video

    frames: list | None = [] if render is not None else None  # type: ignore[type-arg]
    result = run_episode(
        make_scene(task, seed), _policy(model, task), trace_path=trace, frames=frames
    )
    if render is not None and frames is not None:
        write_video(frames, render)
    verdict = "[green]success[/green]" if result.success else "[red]failure[/red]"
    console().print(
        f"{task} seed {seed}: {verdict} in {result.steps} steps, final distance "
        f"{result.final_distance * 1000:.1f} mm, limit hits {result.limit_hits or 'none'}"
        + (f", video {render}" if render else "")
        + (f", trace {trace}" if trace else "")
    )


def eval_command(
    models: Annotated[
        list[Path] | None, typer.Argument(help="Policy files (any format); none: the expert.")
    ] = None,
    suite: Annotated[str, typer.Option("--suite", help="e.g. reach-v0/smoke.")] = "reach-v0/smoke",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N scenes.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for results.json, manifest, traces.")
    ] = None,
    expert: Annotated[bool, typer.Option("--expert", help="Also run the scripted expert.")] = False,
) -> None:
    """Closed-loop success rate etc. of one or more model versions on the same seeded scenes."""
    from rich.table import Table

    from embodied_ai_architect.sim.evaluator import evaluate_policies
    from embodied_ai_architect.sim.suites import load_suite

    resolved = load_suite(suite, limit=limit)
    policies = {}
    for path in models or []:
        policy = _policy(path, resolved.family)
        policies[policy.name] = policy
    if expert or not policies:
        expert_policy = _policy(None, resolved.family)
        policies[expert_policy.name] = expert_policy
    with progress_bar(f"evaluating on {resolved.suite_id}") as sink:
        manifest, results = evaluate_policies(
            resolved,
            policies,
            trace_dir=out / "traces" if out else None,
            progress=_sink_adapter(sink),
        )
    table = Table(title=f"{resolved.suite_id} ({len(resolved.seeds)} scenes, {manifest.digest})")
    for column in (
        "policy",
        "success",
        "mean length",
        "valid actions",
        "limit hits",
        "p50 ms",
        "p95 ms",
    ):
        if column == "policy":
            table.add_column(column, no_wrap=True, min_width=14)
        else:
            table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{100 * r.success_rate:.1f} %",
            f"{r.mean_episode_length:.1f}",
            f"{100 * r.action_validity_rate:.1f} %",
            str(r.safety_limit_hits),
            f"{r.latency_p50_ms:.2f}",
            f"{r.latency_p95_ms:.2f}",
        )
    console().print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        manifest.write(out / "manifest.json")
        payload = {name: r.model_dump() for name, r in results.items()}
        (out / "results.json").write_text(json.dumps(payload, indent=2))
        console().print(f"results and manifest written to {out}")
