"""Job summaries (the list and status views): the same jobs, order and counts as full rows,
without ever loading a result."""

from __future__ import annotations

import pytest

from embodied_ai_architect.errors import InputError, NotFoundError
from embodied_ai_architect.schemas.jobs import JobKind, JobStatus
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.repo import jobs


def test_summaries_match_rows_without_results(db: Database) -> None:
    with db.session() as session:
        for i in range(7):
            row = jobs.create_job(session, kind=JobKind.ANALYZE, request={"i": i})
            if i % 2 == 0:
                jobs.finish_job(
                    session, job_id=row.id, status=JobStatus.SUCCEEDED, result={"big": [i] * 100}
                )
        jobs.create_job(session, kind=JobKind.DEPLOY, request={"target": "onnxruntime"})
    with db.session() as session:
        for filters in ({}, {"kind": JobKind.ANALYZE}, {"status": JobStatus.SUCCEEDED}):
            for offset, limit in ((0, 100), (0, 3), (2, 3), (6, 3), (50, 3)):
                full, full_count = jobs.list_jobs(session, offset=offset, limit=limit, **filters)
                summary, count = jobs.list_job_summaries(
                    session, offset=offset, limit=limit, **filters
                )
                assert [s.id for s in summary] == [r.id for r in full], (filters, offset, limit)
                assert count == full_count
        newest = jobs.list_job_summaries(session, limit=100)[0]
        assert newest[0].kind is JobKind.DEPLOY  # newest first, enums and dicts decoded
        assert newest[-1].request == {"i": 0} and newest[-1].created_at.tzinfo is not None
        assert all(not hasattr(s, "result") for s in newest)
        one = jobs.get_job_summary(session, job_id=newest[1].id)
        assert one.status is newest[1].status and not hasattr(one, "result")
        with pytest.raises(NotFoundError, match="job 'nope' does not exist"):
            jobs.get_job_summary(session, job_id="nope")
        with pytest.raises(InputError):
            jobs.list_job_summaries(session, limit=0)
