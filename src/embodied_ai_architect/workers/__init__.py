"""Jobs run in isolated worker processes.

* :mod:`.executor` — the :class:`Executor` interface and :class:`LocalProcessExecutor`
  (spawned processes, one per job, at most ``settings.workers`` at once);
  :mod:`.ray_executor` runs the same jobs on a Ray cluster (optional ``ray`` extra).
* :mod:`.child` — what runs inside the worker: resource limits, the handler, messages back.
* :mod:`.handlers` — one function per job kind, building the library request and calling it.
* :mod:`.service` — :class:`JobService`: submit / cancel, the supervisor thread that stores
  events in order and publishes them live, crash and restart recovery.
* :mod:`.pubsub` — in-process fan-out of job messages to WebSocket subscribers.
"""
