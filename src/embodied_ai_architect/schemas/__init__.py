"""Typed contracts shared by every surface (CLI, REST, LLM tools)."""
