"""`paperfeed migrate-db`: an instance moves from SQLite to PostgreSQL (and back) with every row, verified."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from click.testing import CliRunner

from conftest import new_database_url, present
from paperfeed import accounts, reader_actions
from paperfeed.cli import cli
from paperfeed.digest import subscribe as subs
from paperfeed.digest.compose import MailSettings
from paperfeed.store import Store, open_store
from paperfeed.store.base import EmbeddingRow
from paperfeed.store.copy import TABLES
from search_corpus import corpus

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MAIL = MailSettings(sender="feed@example.org", base_url="http://testserver", secret_key="m" * 40)


def lived_in(store: Store) -> None:
    """An instance with a bit of everything."""
    store.migrate()
    store.upsert_papers(corpus())
    keys = store.paper_keys(["2501.00001", "2501.00002"])
    store.save_embeddings("m", [EmbeddingRow(k, "h", 1, bytes(range(16))) for k in keys.values()])
    ada = accounts.sign_up(store, "ada", "correct horse battery", "ada@example.org")
    root = accounts.sign_up(store, "root", "correct horse battery", is_admin=True)
    reader_actions.vote(store, ada, "2501.00001", True)
    reader_actions.vote(store, root, "2501.00001", True)
    hidden = reader_actions.comment(store, ada, "2501.00001", "Nice *result*")
    reader_actions.hide_comment(store, root, hidden.id, True)
    reader_actions.create_collection(store, ada, "Reading list", public=True)
    subs.subscribe(store, MAIL, "reader@example.org", subs.preferences(), None)
    store.enqueue_job("update", "update:2026-03-02T09:00", {"a": 1}, NOW)
    accounts.start_session(store, ada)
    store.save_artifact("recommend:cmf", {"papers": 2}, bytes(range(256)) * 100)


def test_sqlite_to_postgresql_and_back_copies_everything(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'lab.db'}"
    lived_in(open_store(source_url))
    target_url = new_database_url("postgresql", tmp_path)
    result = CliRunner().invoke(cli, ["migrate-db", "--from", source_url, "--to", target_url, "--json"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert {r["table"] for r in report} == {t.name for t in TABLES}
    assert all(r["ok"] for r in report)
    counts = {r["table"]: r["rows"] for r in report}
    assert counts["papers"] == len(corpus()) and counts["votes"] == 2 and counts["sessions"] == 1
    assert counts["paper_embeddings"] == 2 and counts["outbox"] == 1 and counts["jobs"] == 1
    assert counts["artifacts"] == 1

    moved = open_store(target_url)
    assert present(moved.get_paper("2501.00001")).upvotes == 2
    assert accounts.authenticate(moved, "ADA", "correct horse battery").name == "ada"
    assert [c.hidden for c in moved.list_comments("2501.00001", include_hidden=True)] == [True]
    assert present(moved.get_user("root")).is_admin
    assert present(moved.load_artifact("recommend:cmf")).data == bytes(range(256)) * 100
    grace = accounts.sign_up(moved, "grace", "another long password")  # identities continue past copied ids
    assert grace.id == 3
    moved.close()

    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    again = CliRunner().invoke(cli, ["migrate-db", "--from", target_url, "--to", back_url])
    assert again.exit_code == 0, again.output
    assert "Copied and verified" in again.output and "DIFFERS" not in again.output
    assert open_store(back_url).get_user("grace") is not None


def test_a_target_with_data_is_refused(tmp_path: Path, store_url: str) -> None:
    source_url = f"sqlite:///{tmp_path / 'lab.db'}"
    lived_in(open_store(source_url))
    lived_in(open_store(store_url))
    result = CliRunner().invoke(cli, ["migrate-db", "--from", source_url, "--to", store_url])
    assert result.exit_code != 0
    assert "already has rows in papers" in result.output


def test_a_missing_or_empty_source_is_refused(tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    missing = CliRunner().invoke(cli, ["migrate-db", "--from", f"sqlite:///{tmp_path / 'nope.db'}", "--to", target])
    assert missing.exit_code == 2
    assert "--from: there is no SQLite database at" in missing.output
    assert not (tmp_path / "nope.db").exists()
    (tmp_path / "empty.db").touch()
    empty = CliRunner().invoke(cli, ["migrate-db", "--from", f"sqlite:///{tmp_path / 'empty.db'}", "--to", target])
    assert empty.exit_code == 2
    assert "holds no paperfeed data" in empty.output
