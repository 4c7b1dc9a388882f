"""Agents' tools: LLM tool definitions and executors (:mod:`.tools`) and an MCP server
(:mod:`.mcp_server`, ``branes mcp``) over the same request models."""
