"""`branes mcp`: serve the platform's tools to LLM agents over MCP (stdio)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp_command)


def mcp_command() -> None:
    """Run an MCP server on stdin/stdout exposing deploy_model, analyze_model, optimize_model,
    list_targets and get_run (configure it as a stdio server in your MCP client)."""
    from embodied_ai_architect.llm.mcp_server import main

    main()
