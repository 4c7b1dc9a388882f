"""In-process fan-out of job messages from the supervisor thread to asyncio subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

Message = dict[str, Any]


class PubSub:
    """Thread-safe publish; each subscriber is an asyncio.Queue bound to its own event loop.

    A subscriber that cannot keep up loses live messages, never the job: the WebSocket
    handler notices the gap in ``seq`` and reads the missing events back from the database.
    """

    def __init__(self, max_queue: int = 1000):
        self._lock = threading.Lock()
        self._subscribers: dict[
            str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]]
        ] = {}
        self._max_queue = max_queue

    def subscribe(self, job_id: str) -> asyncio.Queue[Message]:
        queue: asyncio.Queue[Message] = asyncio.Queue(self._max_queue)
        with self._lock:
            self._subscribers.setdefault(job_id, set()).add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[Message]) -> None:
        with self._lock:
            subscribers = self._subscribers.get(job_id, set())
            for entry in [e for e in subscribers if e[1] is queue]:
                subscribers.discard(entry)
            if not subscribers:
                self._subscribers.pop(job_id, None)

    def publish(self, job_id: str, message: Message) -> None:
        with self._lock:
            targets = list(self._subscribers.get(job_id, ()))
        for loop, queue in targets:
            with contextlib.suppress(RuntimeError):  # the subscriber's loop already closed
                loop.call_soon_threadsafe(_offer, queue, message)

    def subscriber_count(self, job_id: str) -> int:
        with self._lock:
            return len(self._subscribers.get(job_id, ()))


def _offer(queue: asyncio.Queue[Message], message: Message) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(message)
