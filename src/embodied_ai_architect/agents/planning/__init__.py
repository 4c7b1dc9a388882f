"""Planning agent: ranked candidate plans from a ModelProfile + constraints, re-planning on failure.

Entry points: :func:`planner.make_plans`, :func:`planner.fallbacks`,
:func:`feasibility.check_reachable`, :mod:`skills` (learned outcomes of past runs).
"""
