"""`paperfeed mcp`: the MCP server over stdio, for an agent that starts paperfeed as a subprocess."""

from __future__ import annotations

import os

import click

from paperfeed.cli_context import Context, handle_errors, pass_context


@click.command()
@pass_context
@handle_errors
def mcp(ctx: Context) -> None:
    """Serve the MCP tools over standard input and output (JSON-RPC; nothing else is written to stdout).

    Tools: search_papers, get_paper, similar_papers, daily_papers, and, with a reader's API token in
    PAPERFEED_TOKEN (made at /account), for_you, my_collections and add_to_collection; resources paper://{id}.
    `paperfeed serve` offers the same tools over HTTP at /mcp. See docs/api.md for client configurations.
    """
    from paperfeed.mcp_server import build_server  # here: the MCP SDK takes half a second to import

    ctx.ready_store()
    build_server(ctx.services, token=os.environ.get("PAPERFEED_TOKEN") or None).run("stdio")
