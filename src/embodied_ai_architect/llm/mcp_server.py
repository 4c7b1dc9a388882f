"""MCP server (stdio) exposing the LLM tools of :mod:`embodied_ai_architect.llm.tools`.

Built on the official SDK's low-level ``mcp.server.lowlevel.Server`` (mcp 2.x) because the
tool schemas already exist as pydantic JSON schemas: the high-level ``MCPServer`` would derive
them again from function signatures. Tool failures come back as ``is_error`` results with the
structured ``{"error": {code, message, hint}}`` payload, so the calling LLM can correct itself.

Run with ``branes mcp``.
"""

from __future__ import annotations

import json
from typing import Any

from embodied_ai_architect import __version__

SERVER_NAME = "embodied-ai-architect"


def build_server() -> Any:
    """The configured low-level MCP server (not yet connected to a transport)."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server

    from embodied_ai_architect.llm.tools import TOOLS, create_tool_executors, is_error

    executors = create_tool_executors()
    tools = [
        types.Tool(name=spec.name, description=spec.description, input_schema=spec.input_schema())
        for spec in TOOLS
    ]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        del ctx, params
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        del ctx
        executor = executors.get(params.name)
        if executor is None:
            payload: dict[str, Any] = {
                "error": {
                    "code": "unknown_tool",
                    "message": f"unknown tool {params.name!r}",
                    "hint": f"available: {', '.join(executors)}",
                }
            }
        else:
            arguments = dict(params.arguments or {})
            # Deployments block for seconds to minutes: keep the event loop responsive.
            payload = await anyio.to_thread.run_sync(lambda: executor(**arguments))
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(payload, indent=2, default=str))],
            structured_content=payload,
            is_error=is_error(payload),
        )

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions="Analyze, optimize and deploy robotics / embodied-AI models for edge "
        "devices. Call list_targets before deploy_model.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve_stdio() -> None:
    from mcp.server.stdio import stdio_server

    server = build_server()
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> None:
    """Serve MCP over stdin/stdout until the client disconnects."""
    import anyio

    anyio.run(serve_stdio)
