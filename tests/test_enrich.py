"""Enrichment: code and project links, withdrawal, key phrases and the extracted summary, stored per paper,
recomputed when a paper changes, and backfilled by the job and by `paperfeed enrich`."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import Reply, Seen, Server, new_database_url, present
from paperfeed.cli import cli
from paperfeed.config import load_settings
from paperfeed.enrich import METHOD, enrich_papers
from paperfeed.ingest.links import PaperLinks, code_repository, is_withdrawn, paper_links, urls
from paperfeed.models import Enrichment
from paperfeed.search.keyphrases import candidates, extract, sentences
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.services import Services
from paperfeed.store import Store
from paperfeed.tasks import job_settings, schedule
from search_corpus import corpus, paper

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize(
    ("abstract", "comment", "code", "project"),
    [
        ("Code: https://github.com/x/y", None, "https://github.com/x/y", None),
        ("Code is at https://github.com/Open-Lab/My.Repo.", None, "https://github.com/Open-Lab/My.Repo", None),
        ("See github.com/owner/repo.git for details", None, "https://github.com/owner/repo", None),
        ("Code: https://www.github.com/a/b/tree/main/src?tab=readme.", None, "https://github.com/a/b", None),
        ("Released (https://github.com/a/b).", None, "https://github.com/a/b", None),
        ("\\url{https://github.com/a/b}", None, "https://github.com/a/b", None),
        ("Data: https://gitlab.com/group/sub/proj/-/tree/main", None, "https://gitlab.com/group/sub/proj", None),
        ("Project page: https://lab.github.io/thing/ and code https://github.com/lab/thing",
         None, "https://github.com/lab/thing", "https://lab.github.io/thing/"),
        ("No links here.", "12 pages; code at https://github.com/c/d", "https://github.com/c/d", None),
        ("Demo at http://vision.example.edu/demo.", None, None, "http://vision.example.edu/demo"),
        ("See https://arxiv.org/abs/2401.00001 and https://doi.org/10.1/x", None, None, None),
        ("See https://github.com/features/copilot and https://github.com/onlyowner", None, None, None),
        ("Weights: https://huggingface.co/org/model", None, None, None),
        ("Broken https://[oops and https://github.com/<script>/x", None, None, None),
    ],
)  # fmt: skip
def test_code_and_project_links_are_found_and_normalised(
    abstract: str, comment: str | None, code: str | None, project: str | None
) -> None:
    assert paper_links(abstract, comment) == PaperLinks(code, project)


def test_link_parsing_of_hostile_text_is_bounded() -> None:
    text = ("https://github.com/" + "a/" * 50_000) + " " + "x" * 200_000 + " www." + "." * 100_000
    started = time.perf_counter()
    found = urls(text)
    assert len(found) == 2 and time.perf_counter() - started < 5
    assert code_repository(found[0]) == "https://github.com/a/a"


def test_withdrawn_papers_are_recognised() -> None:
    assert is_withdrawn("Some abstract.", "This paper has been withdrawn by the author due to an error")
    assert is_withdrawn("This paper has been withdrawn.", None)
    assert is_withdrawn("x", "I would like to withdraw the paper because results change")
    assert not is_withdrawn("We optimise gas withdrawal in reservoirs.", "12 pages")
    assert not is_withdrawn("x", "withdrawn before presentation due to lack of travel funding")


def test_candidates_and_sentences() -> None:
    text = "Sparse Attention for Long Documents. We propose a novel sparse attention method for long documents."
    found = candidates(text)
    assert found == ["Sparse Attention", "Long Documents"]  # each once, as first written
    assert not {"propose", "novel", "method"} & {w.lower() for w in found}
    assert sentences("One sentence here. Another one (with brackets). Last!") == [
        "One sentence here.", "Another one (with brackets).", "Last!"
    ]  # fmt: skip


def test_key_phrases_and_summary_come_from_the_papers_own_words(static: StaticEmbedder) -> None:
    papers = corpus()
    found = extract(static, [(p.title, p.abstract) for p in papers])
    for p, got in zip(papers, found, strict=True):
        text = f"{p.title}. {p.abstract}".lower()
        assert 1 <= len(got.keywords) <= 8, p.title
        assert all(k.lower() in text for k in got.keywords)  # extracted, never invented
        assert len({k.lower() for k in got.keywords}) == len(got.keywords)
        assert got.summary is None or got.summary in p.abstract
    quantum = found[[p.arxiv_id for p in papers].index("2501.00006")]
    assert any("error correction" in k.lower() or "surface codes" in k.lower() for k in quantum.keywords)
    assert extract(static, []) == []
    empty = extract(static, [("", "")])[0]
    assert empty.keywords == () and empty.summary is None


def test_enrichment_is_stored_recomputed_on_change_and_resumable(store: Store, static: StaticEmbedder) -> None:
    coded = paper(0, abstract=paper(0).abstract + " Code: https://github.com/acme/diffuse.", comment="Withdrawn.")
    gone = paper(1, comment="This paper has been withdrawn by the authors.",
                 latest_version_at=datetime(2025, 2, 1, tzinfo=UTC))  # fmt: skip
    store.upsert_papers([coded, gone, *corpus()[2:]])
    total = len(corpus())
    assert store.count_enrichment_backlog(METHOD) == total
    first = enrich_papers(store, static, limit=3)
    assert (first.enriched, first.left) == (3, total - 3)
    stopped = enrich_papers(store, static, should_stop=lambda: True)
    assert stopped.stopped and stopped.enriched == 0
    seen: list[tuple[int, int]] = []
    rest = enrich_papers(store, static, progress=lambda done, all_: seen.append((done, all_)))
    assert rest.enriched == total - 3 and rest.left == 0 and seen[-1] == (total - 3, total - 3)
    found = store.enrichments([coded.arxiv_id, gone.arxiv_id, "2501.00002", "9999.00000"])
    assert found[coded.arxiv_id].github_repo == "https://github.com/acme/diffuse"
    assert found[gone.arxiv_id].withdrawn_at == datetime(2025, 2, 1, tzinfo=UTC)
    assert found["2501.00002"].keywords and "9999.00000" not in found
    store.upsert_papers([replace(coded, version=2, abstract="A new abstract: see https://github.com/acme/v2 now.")])
    assert store.count_enrichment_backlog(METHOD) == 1  # the changed paper only
    enrich_papers(store, static)
    assert store.enrichments([coded.arxiv_id])[coded.arxiv_id].github_repo == "https://github.com/acme/v2"
    store.save_enrichments([(10**9, Enrichment(summary="nobody"))])  # a key that no longer exists: skipped
    assert store.count_enrichment_backlog(METHOD) == 0
    assert store.count_enrichment_backlog(METHOD + "next") == len(corpus())  # a new method: all again


def test_enrich_command_backfills_with_a_report(tmp_path: Path, static: StaticEmbedder) -> None:
    url = new_database_url("sqlite", tmp_path)
    env = {"PAPERFEED_DATABASE_URL": url, "PAPERFEED_DATA_DIR": str(tmp_path),
           "PAPERFEED_MODEL_DIR": str(static.path.parent)}  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    from paperfeed.store import open_store

    store = open_store(url)
    store.upsert_papers(corpus())
    result = runner.invoke(cli, ["enrich", "--limit", "4"], env=env)
    assert result.exit_code == 0, result.output
    assert "Enriched 4 papers" in result.output and f"{len(corpus()) - 4:,} left" in result.output
    again = runner.invoke(cli, ["enrich", "--json"], env=env)
    assert again.exit_code == 0 and '"enriched": ' + str(len(corpus()) - 4) in again.output
    bad = runner.invoke(cli, ["enrich", "--limit", "0"], env=env)
    assert bad.exit_code == 2 and "--limit" in bad.output
    store.close()


def test_stars_job_looks_repositories_up_and_stops_at_the_rate_limit(
    store_url: str, tmp_path: Path, server: Server, static: StaticEmbedder
) -> None:
    settings = load_settings(
        database_url=store_url, data_dir=tmp_path, model_dir=static.path.parent, github_stars_every_minutes=60,
        github_api_url=server.url, github_token="gh-secret", digest_schedule=False,
    )  # fmt: skip
    assert "stars" in {p.kind for p in schedule(job_settings(settings))}
    assert "stars" not in {p.kind for p in schedule(job_settings(load_settings(database_url=store_url)))}
    services = Services.build(settings)
    store = services.store
    store.migrate()
    linked = [paper(n, abstract=f"{paper(n).abstract} Code: https://github.com/acme/{name}.")
              for n, name in ((0, "a"), (1, "b"), (2, "gone"))]  # fmt: skip
    store.upsert_papers([*linked, paper(3)])
    enrich_papers(store, static)
    limited = {"b": True}

    def respond(seen: Seen) -> Reply:
        if seen.path == "/repos/acme/a":
            return Reply(200, b'{"stargazers_count": 42}')
        if seen.path == "/repos/acme/b":
            return (
                Reply(403, b'{"message": "API rate limit exceeded"}')
                if limited["b"]
                else Reply(200, b'{"stargazers_count": 7}')
            )
        return Reply(404, b'{"message": "Not Found"}')

    server.respond = respond
    worker = services.worker(["stars"])
    store.enqueue_job("stars", "stars:first", {}, datetime.now(UTC))
    first = present(worker.run_one()).summary  # (run_one: only the queued job, not the planned periodic one)
    assert first == "1 repositories looked up, 1 with stars (stopped at GitHub's rate limit)"
    assert server.seen[0].headers.get("Authorization") == "Bearer gh-secret"
    limited["b"] = False
    store.enqueue_job("stars", "stars:second", {}, datetime.now(UTC))
    assert present(worker.run_one()).summary == "2 repositories looked up, 1 with stars"
    found = store.enrichments([p.arxiv_id for p in linked])
    assert [found[p.arxiv_id].github_stars for p in linked] == [42, 7, None]
    assert store.stars_backlog(10, datetime.now(UTC) - timedelta(days=7)) == []  # all looked up this week
    store.upsert_papers([replace(linked[0], version=2, abstract=linked[0].abstract + " Now with more results.")])
    enrich_papers(store, static)  # same repository: its stars stay
    assert store.enrichments([linked[0].arxiv_id])[linked[0].arxiv_id].github_stars == 42
    services.close()
