"""WebSocket /ws/jobs/{id}: stored events first, then live ones, then the final job state.

Messages (JSON):
  {"type": "event", "seq": n, "event": ProgressEvent}   in seq order, no gaps, no repeats
  {"type": "status", "status": "running"}                 when a worker picks the job up
  {"type": "final", "job": JobPublic, "result": JobResultPublic | null}   then the server closes

A client that disconnects only unsubscribes; the job goes on. Auth: when reads are not
public, pass the token as ``?token=`` (browsers cannot set headers on WebSockets).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from embodied_ai_architect.api.convert import job_public, job_result
from embodied_ai_architect.api.deps import token_matches
from embodied_ai_architect.errors import EAAError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.repo import events, jobs
from embodied_ai_architect.workers.service import JobService

router = APIRouter()

HEARTBEAT_S = 10.0


def _snapshot(
    db: Database, job_id: str, after_seq: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Events after ``after_seq``, and the final message if the job is over."""
    with db.session() as session:
        rows = events.list_events(session, job_id=job_id, after_seq=after_seq)
        messages = [
            {
                "type": "event",
                "seq": r.seq,
                "event": events.to_progress_event(r).model_dump(mode="json"),
            }
            for r in rows
        ]
        row = jobs.get_job(session, job_id=job_id)
        final = None
        if row.status.terminal:
            result = None
            with contextlib.suppress(EAAError):
                result = job_result(row).model_dump(mode="json")
            final = {
                "type": "final",
                "job": job_public(row).model_dump(mode="json"),
                "result": result,
            }
    return messages, final


@router.websocket("/ws/jobs/{job_id}")
async def job_progress(websocket: WebSocket, job_id: str) -> None:
    settings: Settings = websocket.app.state.settings
    db: Database = websocket.app.state.db
    service: JobService = websocket.app.state.service
    if not settings.public_reads and not token_matches(
        settings, websocket.query_params.get("token")
    ):
        await websocket.close(code=4401, reason="unauthorized")
        return
    await websocket.accept()
    # Subscribe before reading the backlog so nothing emitted in between is lost.
    queue = service.pubsub.subscribe(job_id)
    try:
        try:
            backlog, final = await run_in_threadpool(_snapshot, db, job_id, -1)
        except EAAError as exc:
            await websocket.send_json({"type": "error", **exc.to_dict()})
            await websocket.close(code=4404)
            return
        last_seq = -1
        for message in backlog:
            await websocket.send_json(message)
            last_seq = message["seq"]
        while final is None:
            try:
                message = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                message = {"type": "heartbeat"}
            if message["type"] == "event" and message["seq"] == last_seq + 1:
                await websocket.send_json(message)
                last_seq = message["seq"]
                continue
            if message["type"] == "status":
                await websocket.send_json(message)
                continue
            if message["type"] == "event" and message["seq"] <= last_seq:
                continue  # already sent from the backlog
            # A gap, a final message or a heartbeat: the database is the source of truth.
            missing, final = await run_in_threadpool(_snapshot, db, job_id, last_seq)
            for item in missing:
                await websocket.send_json(item)
                last_seq = item["seq"]
            if final is None and message["type"] == "heartbeat":
                await websocket.send_json({"type": "heartbeat"})
        await websocket.send_json(final)
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        pass  # the client left; the job is unaffected
    finally:
        service.pubsub.unsubscribe(job_id, queue)
