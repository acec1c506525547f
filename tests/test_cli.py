"""The `paperfeed` command, run in-process through click's runner against a real temporary SQLite file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from conftest import Server
from paperfeed.cli import cli
from test_import import daily, write_jsonl

Run = Callable[..., Result]  # run("papers", "--json"): the CLI in process, in a folder of its own


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.chdir(tmp_path)
    for key in ("PAPERFEED_DATABASE_URL", "PAPERFEED_CONFIG", "PAPERFEED_SEED_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PAPERFEED_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PAPERFEED_REQUEST_INTERVAL", "0")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def papers_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "papers.jsonl", [daily(n) for n in range(12)])


def test_help_explains(run: Run) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("init", "import", "ingest", "update", "papers", "show", "stats"):
        assert command in result.output
    assert "Formats:" in run("import", "--help").output
    assert "resumptionToken" not in run("ingest", "oai", "--help").output
    assert "--set" in run("ingest", "oai", "--help").output


def test_init_import_papers_show_stats(run: Run, papers_file: Path) -> None:
    assert "applied migrations [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]" in run("init").output
    assert "already up to date" in run("init").output
    imported = run("import", str(papers_file), "--json")
    assert imported.exit_code == 0
    assert orjson.loads(imported.stdout)["inserted"] == 12
    latest = run("papers", "--json")
    page = orjson.loads(latest.stdout)
    assert (page["label"], page["total"]) == ("2025-03-20", 4)
    assert page["previous"] == "2025-03-19"
    week = orjson.loads(run("papers", "--week", "2025-W12", "--json", "--limit", "5").stdout)
    assert (week["total"], len(week["papers"]), week["pages"]) == (12, 5, 3)
    assert orjson.loads(run("papers", "--month", "2025-03", "--json").stdout)["total"] == 12
    table = run("papers", "--date", "2025-03-18")
    assert "Day 2025-03-18: 4 papers" in table.output
    shown = orjson.loads(run("show", "2503.00003", "--json").stdout)
    assert shown["title"] == "Title 3"
    assert "Title 3" in run("show", "arXiv:2503.00003v1").output
    assert orjson.loads(run("stats", "--json").stdout)["papers"] == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["papers", "--date", "2025-13-01"], "date must be a date as YYYY-MM-DD"),
        (["papers", "--week", "2025-W60"], "week must be an ISO week"),
        (["papers", "--month", "March"], "month must be YYYY-MM"),
        (["papers", "--limit", "0"], "limit must be between 1 and 200"),
        (["papers", "--date", "2025-03-18", "--week", "2025-W12"], "give only one of"),
        (["show", "'; DROP TABLE papers; --"], "id must be an arXiv id"),
        (["ingest", "arxiv", "--since", "yesterday"], "--since must be a date"),
        (["ingest", "oai", "--set", "cs"], "--from is required"),
    ],
)
def test_bad_input_is_a_clear_error(run: Run, papers_file: Path, args: list[str], message: str) -> None:
    run("import", str(papers_file))
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_unknown_paper_and_empty_database(run: Run) -> None:
    run("init")
    result = run("show", "2401.99999")
    assert (result.exit_code, "not in this instance" in result.stderr) == (1, True)
    empty = run("papers")
    assert empty.exit_code == 1
    assert "no papers yet" in empty.stderr


def test_import_reports_skipped_records(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(orjson.dumps(daily(1)) + b"\n{oops\n" + orjson.dumps(daily(2)) + b"\n")
    errors = tmp_path / "skipped.jsonl"
    result = run("import", str(path), "--errors", str(errors))
    assert result.exit_code == 0
    assert "2 new" in result.output
    assert "1 skipped" in result.output
    assert orjson.loads(errors.read_bytes().splitlines()[0])["position"] == 2


def test_import_of_a_file_that_is_not_papers_fails(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\n")
    result = run("import", str(path))
    assert result.exit_code == 1
    assert "not a papers file" in result.stderr


def test_update_falls_back_to_the_seed_file_when_arxiv_is_unreachable(
    run: Run, papers_file: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERFEED_ARXIV_API_URL", closed_port_url)
    result = run("update", "--seed-file", str(papers_file), "--json")
    assert result.exit_code == 0
    assert "arXiv could not be reached" in result.stderr
    assert f"Importing from {papers_file}" in result.stderr
    assert orjson.loads(result.stdout)["inserted"] == 12
    monkeypatch.setenv("PAPERFEED_SEED_FILE", str(papers_file.with_name("absent.jsonl")))
    missing = run("update")
    assert missing.exit_code == 2
    assert "does not exist either" in missing.stderr


def test_update_fetches_from_arxiv_when_reachable(run: Run, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import Reply
    from feeds import atom_entry, atom_page

    server.respond = lambda seen: Reply(
        200,
        atom_page([atom_entry(1), atom_entry(2)] if seen.query.get("start") == "0" else [], total=2, start=0),
    )
    monkeypatch.setenv("PAPERFEED_ARXIV_API_URL", server.url + "/api/query")
    result = run("update", "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["inserted"] == 2
    assert "cat:cs.CV OR cat:cs.CL OR cat:cs.AI OR cat:cs.LG" in server.seen[-1].query["search_query"]


def test_reading_a_database_that_was_never_initialised(run: Run) -> None:
    result = run("papers")
    assert result.exit_code == 1
    assert "not initialised: run `paperfeed init`" in result.stderr


@pytest.fixture
def topics_file(tmp_path: Path) -> Path:
    from search_corpus import TOPICS

    records = [
        daily(n, title=title, abstract=abstract, authors=authors, categories=[category])
        for n, (title, abstract, authors, category) in enumerate(TOPICS)
    ]
    return write_jsonl(tmp_path / "topics.jsonl", records)


def test_search_embed_and_similar(run: Run, topics_file: Path) -> None:
    run("init")
    imported = run("import", str(topics_file))
    assert "Keyword index: 10 papers indexed." in imported.output  # the index follows the import
    before = run("search", "surface codes")
    assert before.exit_code == 0
    assert "Quantum Error Correction with Surface Codes" in before.output
    assert "Keyword results only" in before.output
    assert "no paper has a vector yet" in before.output
    semantic = run("search", "qubits", "--mode", "semantic")  # answers by keyword, and says why
    assert semantic.exit_code == 0, semantic.output
    assert "no paper has a vector yet" in semantic.output

    embedded = run("embed")
    assert "Embedded 10 papers" in embedded.output
    assert "Embedded 0 papers" in run("embed").output  # incremental: nothing left to do

    found = orjson.loads(run("search", "error rates of quantum computers", "--mode", "semantic", "--json").output)
    assert found["used"] == "semantic"
    assert found["results"][0]["id"] == "2503.00006"
    assert found["results"][0]["foundBy"] == ["semantic"]
    hybrid = orjson.loads(run("search", "surface codes", "--json", "--limit", "3").output)
    assert hybrid["used"] == "hybrid"
    first = hybrid["results"][0]
    assert first["id"] == "2503.00006"
    assert [first["snippet"][a:b] for a, b in first["snippetMarks"]] == ["surface", "codes"]
    assert orjson.loads(run("search", "cat:cs.CV", "--json").output)["used"] == "filter"

    similar = orjson.loads(run("similar", "2503.00002", "--json").output)
    assert similar["results"][0]["id"] == "2503.00003"
    assert "2503.00002" not in [r["id"] for r in similar["results"]]
    text = orjson.loads(run("similar", "--text", "robots learn to pick up objects", "--json").output)
    assert text["results"][0]["id"] == "2503.00004"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "x", "--limit", "500"], "limit must be between 1 and 100"),
        (["search", "x", "--since", "last week"], "since must be a date"),
        (["search", "since:2025-99"], "since: must be a date"),
        (["search", ""], "q is empty"),
        (["similar"], "give either ARXIV_ID or --text"),
        (["similar", "2503.99999"], "paper 2503.99999 is not in this instance"),
    ],
)
def test_search_errors_are_clear(run: Run, topics_file: Path, args: list[str], message: str) -> None:
    run("init")
    run("import", str(topics_file))
    result = run(*args)
    assert result.exit_code in (1, 2)
    assert message in result.output


def test_serve_refuses_a_missing_secret_key_and_admin_grants_rights(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAPERFEED_SECRET_KEY", raising=False)
    refused = run("serve")
    assert refused.exit_code != 0
    assert "PAPERFEED_SECRET_KEY must be set" in refused.output
    monkeypatch.setenv("PAPERFEED_SECRET_KEY", "changeme")
    assert "PAPERFEED_SECRET_KEY must be set" in run("serve").output
    assert run("init").exit_code == 0
    assert "no user called 'ghost'" in run("admin", "ghost").output
    from paperfeed import accounts
    from paperfeed.store import open_store

    store = open_store(os.environ["PAPERFEED_DATABASE_URL"])
    accounts.sign_up(store, "alice", "a long password")
    granted = run("admin", "alice")
    assert granted.exit_code == 0
    assert "alice is an admin" in granted.output
    alice = store.get_user("alice")
    assert alice is not None and alice.is_admin
    assert "no longer an admin" in run("admin", "alice", "--revoke").output
