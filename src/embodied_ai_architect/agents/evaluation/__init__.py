"""Evaluation agent: metrics (size, latency, memory), accuracy evaluators and pass/fail criteria.

Entry points: :func:`metrics.measure_version`, :func:`criteria.judge`, the evaluators in
:mod:`accuracy` (labelled, fidelity) and :func:`agent.build_evaluator` which picks one.
"""
