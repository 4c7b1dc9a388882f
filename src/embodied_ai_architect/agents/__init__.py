"""Agents: Analysis, Planning, Optimization, Evaluation, Deployment (imported lazily)."""
