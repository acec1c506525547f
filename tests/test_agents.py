"""What clients and agents read: every paper call of ``huggingface_hub`` against a real server, the paper as
Markdown, and the MCP server driven by the SDK's own client over streamable HTTP (at /mcp on `serve`) and stdio."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from mcp import Client, StdioServerParameters
from mcp.types import TextContent, TextResourceContents

from conftest import app_store, corpus_app, served
from paperfeed import accounts, reader_actions
from paperfeed.enrich import enrich_papers
from paperfeed.search.static_embed import StaticEmbedder
from search_corpus import paper

pytestmark = pytest.mark.timeout(300)
BASE = "https://papers.example.org"  # the configured public address: links never come from the Host header
CODED = "2501.00002"


@dataclass
class Live:
    url: str
    app: FastAPI
    token: str
    other_token: str
    folder: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, static: StaticEmbedder) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("agents")
    app = corpus_app(folder, "sqlite", base_url=BASE, jobs_in_process=False, model_dir=static.path.parent)
    store = app_store(app)
    coded = paper(2, abstract=paper(2).abstract + " Code: https://github.com/acme/diffuse.", upvotes=4,
                  submitted_by="akhaliq", submitted_at=datetime(2025, 1, 3, 9, tzinfo=UTC), version=2,
                  comment="Project page: https://acme.github.io/diffuse/")  # fmt: skip
    store.upsert_papers([coded])
    enrich_papers(store, static)
    reader = accounts.sign_up(store, "ada", "correct horse battery")
    other = accounts.sign_up(store, "bob", "correct horse battery")
    reader_actions.create_collection(store, reader, "Reading list", False)
    reader_actions.create_collection(store, other, "Bob's", False)
    reader_actions.comment(store, reader, CODED, "Nice *results*; the **ablation** is thin.")
    reader_actions.vote(store, reader, "2501.00006", True)
    token, _ = accounts.create_token(store, reader, "agent")
    other_token, _ = accounts.create_token(store, other, "agent")
    with served(app) as url:
        yield Live(url, app, token, other_token, folder)


# -- huggingface_hub ---------------------------------------------------------------------------------------


def test_every_paper_call_of_huggingface_hub_works_unchanged(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the client refuses every request in offline mode
    api = HfApi(endpoint=live.url, token=False)
    info = api.paper_info(CODED + "v2")  # a versioned id resolves to the paper
    assert (info.id, info.upvotes, info.comments) == (CODED, 4, 1)
    assert info.github_repo == "https://github.com/acme/diffuse"
    assert info.project_page == "https://acme.github.io/diffuse/"
    text = f"{info.title} {info.summary}".lower()
    assert info.ai_keywords and all(k.lower() in text for k in info.ai_keywords)
    assert info.ai_summary and info.ai_summary in (info.summary or "")
    assert info.submitted_by is not None and info.submitted_by.username == "akhaliq"
    assert info.organization is None and info.authors and info.authors[0].name == "Yann LeCun"
    daily = list(api.list_daily_papers(date="2025-01-03", sort="trending", p=0, limit=5))
    assert [d.id for d in daily] == [CODED]
    assert daily[0].github_repo == "https://github.com/acme/diffuse" and daily[0].ai_keywords
    assert daily[0].submitted_by is not None and daily[0].submitted_by.username == "akhaliq"
    assert list(api.list_daily_papers(month="2025-01", sort="publishedAt", limit=3, p=1))
    found = list(api.list_papers(query="quantum error correction", limit=3))
    assert found[0].id == "2501.00006"
    markdown = api.read_paper(CODED)
    assert markdown.startswith("# Diffusion Models") and "https://github.com/acme/diffuse" in markdown
    with pytest.raises(HfHubHTTPError) as missing:
        api.paper_info("2501.99999")
    assert missing.value.response is not None and missing.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError):
        api.read_paper("2501.99999")


def test_daily_papers_validates_p_limit_and_sort_and_orders_both_ways(live: Live) -> None:
    client = TestClient(live.app, base_url="http://localhost")
    for query, message in [
        ("limit=0", "limit must be between 1 and 100"), ("limit=101", "limit must be between 1 and 100"),
        ("limit=ten", "limit must be an integer"), ("p=-1", "p must be between"), ("p=" + "9" * 50, "p must be"),
        ("sort=hot", "sort must be publishedAt or trending"), ("date=2025-02-30", "date must be a date"),
    ]:  # fmt: skip
        answer = client.get(f"/api/daily_papers?{query}")
        assert answer.status_code == 400 and message in answer.json()["error"]["message"], query
    month = "/api/daily_papers?month=2025-01&limit=100"
    newest = [i["paper"]["id"] for i in client.get(month).json()]  # default: publishedAt, as the Hub's client says
    trending = [i["paper"]["id"] for i in client.get(month + "&sort=trending").json()]
    assert sorted(newest) == sorted(trending) and trending[0] == CODED and newest != trending
    item = client.get("/api/daily_papers?date=2025-01-03").json()[0]
    for key in ("organization", "isAuthorParticipating", "ai_summary", "ai_keywords", "githubRepo", "projectPage"):
        assert key in item and key in item["paper"], key
    assert item["paper"]["withdrawnAt"] is None and item["paper"]["submittedOnDailyBy"]["user"] == "akhaliq"


# -- Markdown ----------------------------------------------------------------------------------------------


def test_paper_markdown_has_the_record_links_keywords_and_discussion(live: Live) -> None:
    client = TestClient(live.app, base_url="http://localhost")
    answer = client.get(f"/papers/{CODED}v1.md")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/markdown")
    text = answer.text
    assert text.startswith("# Diffusion Models for High-Resolution Image Synthesis\n")
    assert "**Authors:** Yann LeCun" in text and "- **Categories:** cs.CV" in text
    assert "- **Code:** https://github.com/acme/diffuse" in text and "acme.github.io/diffuse" in text
    assert "## Summary (extracted" in text and "## Abstract" in text and "## Discussion" in text
    assert "> Nice *results*; the **ablation** is thin." in text and "**ada**" in text
    assert f"- **On this site:** {BASE}/papers/{CODED}" in text and "localhost" not in text
    assert "- **Keywords:** [" in text and f"]({BASE}/search?q=%22" in text
    page = client.get(f"/papers/{CODED}").text
    assert f'href="/papers/{CODED}.md"' in page and 'class="chip"' in page and "In one sentence (extracted)" in page
    listed = client.get("/papers/date/2025-01-03").text  # the feed shows the code link and a few key phrases
    assert 'class="code-link" href="https://github.com/acme/diffuse"' in listed and 'class="chip"' in listed
    twin = client.get(f"/api/papers/{CODED}").json()  # the API twin: the same record, the same computed fields
    assert f"- **Code:** {twin['githubRepo']}" in text and f"- **Project page:** {twin['projectPage']}" in text
    assert all(f"[{k}]" in text for k in twin["ai_keywords"]) and twin["ai_summary"] in text
    assert twin["title"] in text and " ".join(twin["summary"].split()) in text
    assert client.get("/papers/2501.99999.md").status_code == 404
    bad = client.get("/papers/not-an-id.md")
    assert bad.status_code == 400 and "id must be an arXiv id" in bad.text


def test_markdown_escapes_markup_in_a_hostile_record(live: Live) -> None:
    store = app_store(live.app)
    store.upsert_papers([paper(40, arxiv_id="2501.09040", title="# [click](javascript:alert(1)) <script>x</script>",
                               abstract="Evil `code` and | pipes *here*.")])  # fmt: skip
    text = TestClient(live.app, base_url="http://localhost").get("/papers/2501.09040.md").text
    first = text.splitlines()[0]
    assert first.startswith("# \\#") and "\\[click\\]" in first and "\\<script\\>" in first
    assert "Evil \\`code\\` and \\| pipes \\*here\\*." in text


# -- MCP ---------------------------------------------------------------------------------------------------


def _text(result: Any) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def _http_session(live: Live, token: str | None) -> dict[str, Any]:
    import httpx2

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out: dict[str, Any] = {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        from mcp.client.streamable_http import streamable_http_client

        async with Client(streamable_http_client(f"{live.url}/mcp", http_client=http)) as c:
            out["tools"] = sorted(t.name for t in (await c.list_tools()).tools)
            out["search"] = await c.call_tool("search_papers", {"query": "quantum error correction", "limit": 3})
            out["paper"] = await c.call_tool("get_paper", {"id": f"arXiv:{CODED}v2"})
            out["missing"] = await c.call_tool("get_paper", {"id": "2501.99999"})
            out["garbage"] = await c.call_tool("get_paper", {"id": "<script>"})
            out["huge"] = await c.call_tool("search_papers", {"query": "x" * 10_000})
            out["limit"] = await c.call_tool("search_papers", {"query": "graphs", "limit": 1000})
            out["mode"] = await c.call_tool("search_papers", {"query": "graphs", "mode": "psychic"})
            out["date"] = await c.call_tool("daily_papers", {"date": "2025-13-45"})
            out["daily"] = await c.call_tool("daily_papers", {"month": "2025-01", "sort": "upvotes", "limit": 2})
            out["similar"] = await c.call_tool("similar_papers", {"id": CODED})
            out["for_you"] = await c.call_tool("for_you", {"window": "all"})
            out["lists"] = await c.call_tool("my_collections", {})
            out["add"] = await c.call_tool("add_to_collection", {"collection": "reading-list", "id": CODED})
            out["add_elsewhere"] = await c.call_tool("add_to_collection", {"collection": "bob-s", "id": CODED})
            resource = await c.read_resource(f"paper://{CODED}")
            block = resource.contents[0]
            out["resource"] = block.text if isinstance(block, TextResourceContents) else ""
    return out


def test_mcp_over_http_serves_every_tool_and_errors_name_the_problem(live: Live) -> None:
    got = asyncio.run(_http_session(live, live.token))
    assert got["tools"] == sorted(["search_papers", "get_paper", "similar_papers", "daily_papers", "for_you",
                                   "my_collections", "add_to_collection"])  # fmt: skip
    assert not got["search"].is_error
    assert got["search"].structured_content["results"][0]["id"] == "2501.00006"
    assert not got["paper"].is_error and _text(got["paper"]).startswith("# Diffusion Models")
    assert got["missing"].is_error and "2501.99999 is not in this instance" in _text(got["missing"])
    assert got["garbage"].is_error and "id must be an arXiv id" in _text(got["garbage"])
    for key, field in (("huge", "query"), ("limit", "limit"), ("mode", "mode")):
        assert got[key].is_error and field in _text(got[key]) and "Traceback" not in _text(got[key]), key
    assert got["date"].is_error and "date must be a date" in _text(got["date"])
    assert not got["daily"].is_error and got["daily"].structured_content["papers"][0]["id"] == CODED
    assert got["similar"].is_error and "similar papers need vectors" in _text(got["similar"])  # none computed here
    picks = got["for_you"].structured_content["result"]
    assert picks and all(p["reason"] and p["id"] != "2501.00006" for p in picks)  # never what ada upvoted
    assert [c["slug"] for c in got["lists"].structured_content["result"]] == ["reading-list"]
    assert not got["add"].is_error and got["add"].structured_content["size"] == 1
    assert got["add_elsewhere"].is_error and "Traceback" not in _text(got["add_elsewhere"])
    assert got["resource"].startswith("# Diffusion Models")


def test_mcp_reader_tools_need_a_valid_token(live: Live) -> None:
    async def calls(token: str | None) -> list[Any]:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        headers = {"Authorization": token} if token else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(f"{live.url}/mcp", http_client=http)) as c,
        ):
            return [await c.call_tool("my_collections", {}), await c.call_tool("for_you", {})]

    for header, message in [(None, "needs an API token"), ("Bearer pf_forged", "token"), ("Basic abc", "Bearer")]:
        for result in asyncio.run(calls(header)):
            assert result.is_error and message in _text(result), header


def test_mcp_endpoint_refuses_forged_hosts_oversized_bodies_and_garbage(live: Live) -> None:
    forged = httpx.post(f"{live.url}/mcp", headers={"Host": "evil.example"}, json={})
    assert forged.status_code == 400
    kinds = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    huge = httpx.post(f"{live.url}/mcp", content=b"{" * (3 * 1024 * 1024), headers=kinds)
    assert huge.status_code == 413
    junk = httpx.post(f"{live.url}/mcp", content=b"\xff\xfe not json", headers=kinds)
    assert 400 <= junk.status_code < 500
    assert httpx.get(f"{live.url}/healthz").text == "ok"  # still serving


def test_mcp_over_stdio_with_the_token_from_the_environment(live: Live) -> None:
    executable = Path(sys.executable).parent / "paperfeed"
    env = {
        "PAPERFEED_DATABASE_URL": f"sqlite:///{live.folder / 'paperfeed.db'}",
        "PAPERFEED_DATA_DIR": str(live.folder), "PAPERFEED_BASE_URL": BASE, "PAPERFEED_TOKEN": live.other_token,
        "PATH": os.environ.get("PATH", ""),
    }  # fmt: skip

    async def session() -> dict[str, Any]:
        params = StdioServerParameters(command=str(executable), args=["mcp"], env=env)
        async with Client(params, read_timeout_seconds=120) as c:
            return {
                "tools": len((await c.list_tools()).tools),
                "paper": await c.call_tool("get_paper", {"id": CODED}),
                "lists": await c.call_tool("my_collections", {}),
                "bad": await c.call_tool("daily_papers", {"week": "2025-W99"}),
            }

    got = asyncio.run(session())
    assert got["tools"] == 7
    assert _text(got["paper"]).startswith("# Diffusion Models") and f"{BASE}/papers/{CODED}" in _text(got["paper"])
    assert [c["slug"] for c in got["lists"].structured_content["result"]] == ["bob-s"]
    assert got["bad"].is_error and "week must be an ISO week" in _text(got["bad"])


HOSTILE: list[Any] = [
    "", " ", "0", "-1", "99999999999999999999999", "1e309", "NaN", "0001-01-01", "9999-12-31", "2025-W53",
    "9999-W52", "2025-02-30", "2501.00001v99999999999", "hep-th/9901001", "../../etc/passwd", "\x00", "\u202e",
    "a" * 5000, '"unclosed', "cat:", "-", "'; DROP TABLE papers; --", "<script>", "日本語", "since:0001 until:9999",
    0, -1, 10**30, 1.5, True, None, [], {}, ["x"],
]  # fmt: skip


def test_every_tool_answers_hostile_arguments_with_a_named_error(live: Live) -> None:
    """Each argument of each tool in turn gets each hostile value: the answer is a result or a tool error with
    a message (a crash would be the SDK's bare "Error executing tool NAME")."""
    from mcp_support import tool_arguments
    from paperfeed.http_edge import site
    from paperfeed.mcp_server import build_server

    server = build_server(site(live.app).services, token=live.token)

    async def run() -> list[tuple[str, str, Any, Any]]:
        seen = []
        async with Client(server) as c:
            for tool in (await c.list_tools()).tools:
                for name, base in tool_arguments(tool.input_schema, CODED).items():
                    for value in HOSTILE:
                        result = await c.call_tool(tool.name, {**base, name: value})
                        seen.append((tool.name, name, value, result))
        return seen

    answers = asyncio.run(run())
    assert len(answers) >= 400
    for tool, name, value, result in answers:
        if result.is_error:
            text = _text(result)
            assert text.startswith(f"Error executing tool {tool}: ") and "Traceback" not in text, (tool, name, value)
