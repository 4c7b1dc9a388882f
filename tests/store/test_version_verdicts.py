"""Migration 0005: a version's verdicts, stored once; older rows read "not recorded".

The same scenario on SQLite and on a real PostgreSQL server (skipped where it is absent).
"""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from embodied_ai_architect.errors import StoreError
from embodied_ai_architect.schemas.runs import NOT_RECORDED, VersionView
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.migrate import alembic_config, current_revision
from embodied_ai_architect.store.repo import models, versions

VERDICT = {
    "constraint": "size",
    "passed": True,
    "actual": 1.5,
    "limit": 2.0,
    "reason": "size 1.5 MB ≤ 2 MB",
}


def _columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("model_versions")}


def _migrate(db: Database, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def verdicts_scenario(db: Database) -> None:
    with db.session() as session:
        model_id = models.create_model(
            session, name="m.onnx", format="onnx", sha256="c" * 64, size_bytes=1, path="m"
        ).id
        old = versions.create_version(
            session, model_id=model_id, artifact_sha256="a" * 64, artifact_path="p0"
        ).id
    # Down to 0004 (the columns go) and up again: rows from before read "not recorded".
    _migrate(db, "0004")
    assert {"verdicts", "judged_metrics"}.isdisjoint(_columns(db))
    db.upgrade()
    assert current_revision(db.engine) == "0005"
    assert {"verdicts", "judged_metrics"} <= _columns(db)
    with db.session() as session:
        view = VersionView.model_validate(versions.get_version(session, version_id=old))
        assert view.verdicts is None and view.verdict_status == NOT_RECORDED
        versions.record_verdicts(
            session, version_id=old, verdicts=[VERDICT], judged_metrics={"size_bytes": 1_500_000}
        )
    with db.session() as session:
        view = VersionView.model_validate(versions.get_version(session, version_id=old))
        assert view.verdict_status == "passed" and view.verdicts is not None
        assert view.verdicts[0].reason == VERDICT["reason"]
        assert view.final_metrics == {"size_bytes": 1_500_000}
    # Once: the repository refuses a second write, the row guard any other change.
    with pytest.raises(StoreError, match="already has verdicts"), db.session() as session:
        versions.record_verdicts(session, version_id=old, verdicts=[], judged_metrics={})
    with pytest.raises(StoreError, match="immutable"), db.session() as session:
        versions.get_version(session, version_id=old).verdicts = []
    with pytest.raises(StoreError, match="immutable"), db.session() as session:
        row = versions.get_version(session, version_id=old)
        row.verdicts, row.metrics = None, {"size_mb": 0.1}


def test_verdicts_on_sqlite(db: Database) -> None:
    verdicts_scenario(db)


def test_verdicts_on_postgres(pg_db: Database) -> None:
    verdicts_scenario(pg_db)
