from pathlib import Path

import pytest

from embodied_ai_architect.errors import EAAError, ModelFormatError
from embodied_ai_architect.settings import Settings


def test_settings_read_env_and_derive_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EAA_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("EAA_WORKERS", "3")
    settings = Settings()
    assert settings.workspace == (tmp_path / "ws").resolve()
    assert settings.workers == 3
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'ws').resolve()}/branes.db"


def test_settings_refuse_invalid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAA_WORKERS", "0")
    with pytest.raises(ValueError, match="workers"):
        Settings()


def test_errors_carry_message_hint_and_code() -> None:
    error = ModelFormatError("file is empty", hint="export it again", details={"size": 0})
    assert isinstance(error, EAAError)
    assert error.to_dict() == {
        "code": "model_format",
        "message": "file is empty",
        "hint": "export it again",
        "details": {"size": 0},
    }
    assert str(error) == "file is empty (hint: export it again)"
