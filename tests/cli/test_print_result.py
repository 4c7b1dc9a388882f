"""How deploy and optimize show their typed result: JSON or rendered, exit 1 when it failed."""

from __future__ import annotations

import json

import pytest
import typer
from pydantic import BaseModel

from embodied_ai_architect.cli.console import print_result


class Outcome(BaseModel):
    name: str
    ok: bool


def test_json_goes_to_stdout_and_is_not_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    rendered: list[Outcome] = []
    print_result(Outcome(name="a", ok=True), as_json=True, render=rendered.append, succeeded=True)
    assert json.loads(capsys.readouterr().out) == {"name": "a", "ok": True}
    assert rendered == []


def test_a_failed_result_is_shown_in_full_then_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome, rendered = Outcome(name="b", ok=False), []
    with pytest.raises(typer.Exit) as exited:
        print_result(outcome, as_json=False, render=rendered.append, succeeded=False)
    assert exited.value.exit_code == 1 and rendered == [outcome]
    with pytest.raises(typer.Exit):
        print_result(outcome, as_json=True, render=rendered.append, succeeded=False)
    assert json.loads(capsys.readouterr().out)["name"] == "b"
