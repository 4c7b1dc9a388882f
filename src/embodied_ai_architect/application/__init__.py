"""The application layer: what every face (CLI, REST, workers, LLM/MCP) calls.

Faces only build typed requests, call these functions and render the typed results; the
functions call the pipeline and the store. See docs/architecture.md.
"""
