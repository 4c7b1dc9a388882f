"""Persistence: SQLAlchemy 2 tables, keyword-only repository functions, Alembic migrations,
the content-addressed artifact store and database backups.

Typical use (every repository function takes ``session`` and keyword-only arguments)::

    from embodied_ai_architect.store import Database
    from embodied_ai_architect.store.repo import jobs

    db = Database.from_settings(settings)   # engine + session factory, no globals
    db.upgrade()                            # alembic upgrade head
    with db.session() as session:           # commits on success, rolls back on error
        job = jobs.create_job(session, kind=JobKind.ANALYZE, request={...})
"""

from embodied_ai_architect.store.db import Database

__all__ = ["Database"]
