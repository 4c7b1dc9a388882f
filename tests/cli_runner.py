"""Run the real `branes` entry point in-process: exit codes and error rendering included."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from embodied_ai_architect.cli.app import main


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def runner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Run]:
    monkeypatch.setenv("COLUMNS", "200")  # Rich must not wrap the messages tests assert on

    def run(*args: str) -> Run:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
