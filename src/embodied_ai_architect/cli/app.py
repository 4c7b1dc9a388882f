"""`branes` entry point: registers command modules and turns EAAError into a clean message."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape

from embodied_ai_architect import __version__
from embodied_ai_architect.cli.console import error_console
from embodied_ai_architect.errors import EAAError

# Command modules, each with ``register(app)``. Add new ones here.
COMMAND_MODULES = [
    "analyze",
    "deploy",
    "mcp",
    "serve",
    "db",
    "jobs",
    "optimize",
    "demo",
    "runs",
    "versions",
    "sim",
    "techniques",
]


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="branes",
        help="Embodied AI Architect: analyze, optimize, evaluate and deploy robotics models "
        "for edge devices.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root(
        debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
        version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    ) -> None:
        if version:
            typer.echo(f"branes {__version__}")
            raise typer.Exit()
        del debug  # read from argv in main(), before Typer parses, so errors anywhere see it

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"embodied_ai_architect.cli.commands.{name}")
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    app = build_app()
    try:
        # With standalone_mode=False click *returns* the code of `raise typer.Exit(n)`.
        code = app(args=args, prog_name="branes", standalone_mode=False)
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except EAAError as exc:
        if debug:
            raise
        render_error(exc, args)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        error_console().print("[red]aborted[/red]")
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, _click_exception_types()):  # usage errors carry their own exit code
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if debug:
            raise
        error_console().print(
            f"[bold red]internal error:[/bold red] {type(exc).__name__}: {escape(str(exc))}\n"
            "[dim]run again with --debug for the traceback, and report it[/dim]"
        )
        sys.exit(1)


def _click_exception_types() -> tuple[type[Exception], ...]:
    """Click's user-facing errors (usage errors among them), from whichever click Typer uses.

    Typer 0.2x raises its own vendored copy of click's classes and no longer depends on
    click itself; older Typer raises click's. Both are shown, not reported as internal.
    """
    types: list[type[Exception]] = []
    for module_name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        types.append(module.ClickException)
    return tuple(types)


def render_error(exc: EAAError, argv: list[str] | None = None) -> None:
    # Escaped: hints such as pip install 'pkg[extra]' would otherwise lose "[extra]" to markup.
    # Core errors name request fields; the CLI speaks of its flags (one table, cli/fields.py),
    # those of the command ``argv`` runs.
    from embodied_ai_architect.cli.fields import command_of, in_cli_terms

    command = command_of(argv or [])
    console = error_console()
    message = in_cli_terms(exc.message, command)
    console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    if exc.hint:
        console.print(
            f"[yellow]hint:[/yellow] {escape(in_cli_terms(exc.hint, command))}", highlight=False
        )
