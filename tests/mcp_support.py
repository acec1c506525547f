"""Helpers for driving the MCP server's tools in tests."""

from __future__ import annotations

from typing import Any

VALID = {"query": "graphs", "id": "", "collection": "reading-list"}


def tool_arguments(schema: dict[str, Any], paper_id: str) -> dict[str, dict[str, Any]]:
    """For each argument of a tool (by its JSON schema), a valid set of the other required arguments."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    valid = {**VALID, "id": paper_id}
    base = {name: valid[name] for name in required if name in valid}
    return {name: {k: v for k, v in base.items() if k != name} for name in properties}
