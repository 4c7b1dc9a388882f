"""Turn a finished analyze job's result into the model's stored profile."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from embodied_ai_architect.store.repo import models


def record_analysis(session: Session, *, model_id: int | None, profile: dict[str, Any]) -> None:
    if model_id is not None:
        models.set_profile(session, model_id=model_id, profile=profile)
