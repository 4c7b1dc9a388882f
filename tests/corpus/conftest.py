"""The real-model corpus (corpus/manifest.yaml), fetched by `make corpus`, never at test time."""

from __future__ import annotations

import pytest

from corpus.helpers import Run
from embodied_ai_architect.cli.app import main


@pytest.fixture
def branes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The real `branes` entry point in-process (exit codes and error rendering included)."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Run:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
