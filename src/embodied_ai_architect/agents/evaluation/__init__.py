"""Evaluation agent: metrics, accuracy evaluators and pass/fail criteria."""
