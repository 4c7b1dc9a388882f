"""Planning agent: ranked candidate plans from a ModelProfile + constraints, re-planning on failure.

Entry points: :func:`planner.make_plans` (its technique filter is in :mod:`applicability`),
:func:`gentler.fallback`, :func:`feasibility.unreachable_evidence`, :mod:`skills` (learned
outcomes of past runs).
"""
