"""Keyword-only repository functions, one module per resource; each takes ``session`` first.

Modules: :mod:`.models` (uploaded files), :mod:`.datasets` (uploaded data files), :mod:`.versions` (immutable model versions),
:mod:`.jobs` (job lifecycle), :mod:`.events` (ordered progress events), :mod:`.history`
(attempts, plans, skills). Functions flush but never commit: the caller's
``Database.session()`` block is the transaction.
"""

from embodied_ai_architect.store.repo import datasets, events, history, jobs, models, versions

__all__ = ["datasets", "events", "history", "jobs", "models", "versions"]
