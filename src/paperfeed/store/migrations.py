"""Versioned schema migrations.

Each migration is frozen DDL for one dialect, applied once, in order, inside one transaction together with
its row in ``schema_migrations``: a crash leaves the database at the previous version, never half-migrated.
A later change to a table is a new migration, never an edit of an old one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from paperfeed.errors import PaperfeedError, StoreError
from paperfeed.store import migrations_pg


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sqlite: Sequence[str]
    postgresql: Sequence[str]

    def statements(self, dialect: str) -> Sequence[str]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


_V1_SQLITE = (
    """CREATE TABLE papers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        arxiv_id TEXT NOT NULL UNIQUE,
        version INTEGER,
        title TEXT NOT NULL,
        abstract TEXT NOT NULL,
        authors TEXT NOT NULL,
        authors_text TEXT NOT NULL,
        categories TEXT NOT NULL,
        primary_category TEXT,
        first_version_at DATETIME,
        latest_version_at DATETIME,
        comment TEXT,
        journal_ref TEXT,
        doi TEXT,
        license TEXT,
        feed_date DATE,
        source TEXT NOT NULL,
        extra_links TEXT,
        content_hash TEXT NOT NULL,
        upvotes INTEGER NOT NULL DEFAULT 0,
        num_comments INTEGER NOT NULL DEFAULT 0,
        submitted_by TEXT,
        submitted_at DATETIME,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL
    )""",
    "CREATE INDEX ix_papers_feed_date ON papers (feed_date, upvotes)",
    "CREATE INDEX ix_papers_primary_category ON papers (primary_category)",
    """CREATE TABLE paper_versions (
        arxiv_id TEXT NOT NULL REFERENCES papers (arxiv_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        created_at DATETIME,
        PRIMARY KEY (arxiv_id, version)
    ) WITHOUT ROWID""",
    """CREATE TABLE paper_categories (
        arxiv_id TEXT NOT NULL REFERENCES papers (arxiv_id) ON DELETE CASCADE,
        category TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (arxiv_id, category)
    ) WITHOUT ROWID""",
    "CREATE INDEX ix_paper_categories_category ON paper_categories (category, arxiv_id)",
    """CREATE TABLE ingest_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at DATETIME NOT NULL
    )""",
    # Keyword index: an external-content FTS5 table over papers. Rows are indexed in id order up to the
    # watermark in fts_progress: ordinary writes index their rows in the same transaction; a bulk import
    # indexes in large steps (several times faster than row by row). Ids only grow (AUTOINCREMENT), so
    # "id <= indexed_upto" means "in the index", and the triggers keep exactly those rows in step.
    """CREATE VIRTUAL TABLE papers_fts USING fts5(
        title, authors_text, abstract,
        content='papers', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
    )""",
    "CREATE TABLE fts_progress (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_upto INTEGER NOT NULL)",
    "INSERT INTO fts_progress (id, indexed_upto) VALUES (1, 0)",
    """CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers
    WHEN old.id <= (SELECT indexed_upto FROM fts_progress) BEGIN
        INSERT INTO papers_fts (papers_fts, rowid, title, authors_text, abstract)
        VALUES ('delete', old.id, old.title, old.authors_text, old.abstract);
    END""",
    """CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, authors_text, abstract ON papers
    WHEN old.id <= (SELECT indexed_upto FROM fts_progress) BEGIN
        INSERT INTO papers_fts (papers_fts, rowid, title, authors_text, abstract)
        VALUES ('delete', old.id, old.title, old.authors_text, old.abstract);
        INSERT INTO papers_fts (rowid, title, authors_text, abstract)
        VALUES (new.id, new.title, new.authors_text, new.abstract);
    END""",
)

# v2: keyword search moves to tantivy (measured in docs/decisions.md), so FTS5 goes; every write now stamps
# the rows it touches with a commit sequence number (``seq``, one per transaction, increasing), which the
# search indexes follow incrementally; sentence embeddings are stored beside the papers.
_V2_SQLITE = (
    "DROP TRIGGER papers_fts_delete",
    "DROP TRIGGER papers_fts_update",
    "DROP TABLE papers_fts",
    "DROP TABLE fts_progress",
    "ALTER TABLE papers ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
    "UPDATE papers SET seq = 1",
    "CREATE INDEX ix_papers_seq ON papers (seq)",
    """CREATE TABLE paper_embeddings (
        paper_id INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        paper_seq INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        vector BLOB NOT NULL
    )""",
    "CREATE INDEX ix_paper_embeddings_seq ON paper_embeddings (seq)",
)

# v3: the community: accounts, sessions, API tokens, votes, comments, collections, and removed papers.
# Local votes and comments are counted in their own columns: ``upvotes`` / ``num_comments`` belong to the
# sources (Hugging Face's counts) and are rewritten by imports, which must never wipe a reader's vote.
_V3_SQLITE = (
    "ALTER TABLE papers ADD COLUMN local_upvotes INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE papers ADD COLUMN local_comments INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX ix_papers_submitted_by ON papers (submitted_by)",
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        email TEXT,
        password_hash TEXT NOT NULL,
        is_admin INTEGER NOT NULL DEFAULT 0,
        created_at DATETIME NOT NULL
    )""",
    """CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at DATETIME NOT NULL,
        expires_at DATETIME NOT NULL
    )""",
    "CREATE INDEX ix_sessions_user ON sessions (user_id)",
    """CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        token_hash TEXT NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        last_used_at DATETIME
    )""",
    """CREATE TABLE votes (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (user_id, paper_id)
    )""",
    "CREATE INDEX ix_votes_paper ON votes (paper_id)",
    """CREATE TABLE comments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        body TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        hidden INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX ix_comments_paper ON comments (paper_id, id)",
    """CREATE TABLE collections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        slug TEXT NOT NULL,
        public INTEGER NOT NULL DEFAULT 0,
        created_at DATETIME NOT NULL,
        UNIQUE (user_id, slug)
    )""",
    """CREATE TABLE collection_papers (
        collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        added_at DATETIME NOT NULL,
        PRIMARY KEY (collection_id, paper_id)
    )""",
    """CREATE TABLE removed_papers (
        arxiv_id TEXT PRIMARY KEY,
        removed_by TEXT NOT NULL,
        reason TEXT,
        removed_at DATETIME NOT NULL
    )""",
)

# v4: e-mail digests. The outbox holds every (subscription, edition) mail, rendered once with its Message-ID,
# so a crash or an outage resends exactly the same bytes; UNIQUE (subscription_id, edition) makes composing an
# edition twice harmless.
_V4_SQLITE = (
    """CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
        frequency TEXT NOT NULL,
        weekday INTEGER NOT NULL DEFAULT 0,
        content TEXT NOT NULL DEFAULT 'trending',
        categories TEXT NOT NULL DEFAULT '',
        keywords TEXT NOT NULL DEFAULT '',
        max_papers INTEGER NOT NULL DEFAULT 10,
        min_upvotes INTEGER NOT NULL DEFAULT 0,
        confirmed_at DATETIME,
        unsubscribed_at DATETIME,
        paused_at DATETIME,
        permanent_failures INTEGER NOT NULL DEFAULT 0,
        created_at DATETIME NOT NULL
    )""",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
        edition TEXT NOT NULL,
        recipient TEXT NOT NULL,
        message_id TEXT NOT NULL,
        message BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DATETIME NOT NULL,
        claimed_at DATETIME,
        last_error TEXT,
        created_at DATETIME NOT NULL,
        sent_at DATETIME,
        UNIQUE (subscription_id, edition)
    )""",
    "CREATE INDEX ix_outbox_due ON outbox (status, next_attempt_at)",
)

# v5: personal recommendations: "not interested" marks, and a reader's own statement of interests.
_V5_SQLITE = (
    "ALTER TABLE users ADD COLUMN interests TEXT NOT NULL DEFAULT ''",
    """CREATE TABLE dismissals (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (user_id, paper_id)
    )""",
)

# v6: background jobs (ingest, embed, refit, digests) that any worker process may claim; a live job's key is
# unique for good, so the same job ("update:2026-11-22T06:00") is never queued twice.
_V6_SQLITE = (
    """CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'queued',
        run_at DATETIME NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        locked_by TEXT,
        locked_at DATETIME,
        last_error TEXT,
        created_at DATETIME NOT NULL,
        finished_at DATETIME
    )""",
    "CREATE INDEX ix_jobs_due ON jobs (status, run_at)",
)

# v7: artifacts: models fitted by the refit job (the collaborative "for you" model) for every web process to load.
_V7_SQLITE = (
    """CREATE TABLE artifacts (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        meta TEXT NOT NULL,
        data BLOB NOT NULL,
        created_at DATETIME NOT NULL
    )""",
)

# comments keep the sanitised HTML made when they were written (older ones are rendered when shown)
_V8_SQLITE = ("ALTER TABLE comments ADD COLUMN html TEXT",)

# v9: what paperfeed computes from each paper's text: code links, key phrases, an extracted summary, withdrawal
_V9_SQLITE = (
    """CREATE TABLE paper_enrichment (
        paper_id INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE,
        content_hash TEXT NOT NULL,
        github_repo TEXT,
        project_page TEXT,
        keywords TEXT NOT NULL,
        summary TEXT,
        withdrawn_at DATETIME,
        github_stars INTEGER,
        stars_checked_at DATETIME,
        enriched_at DATETIME NOT NULL
    )""",
    "CREATE INDEX ix_paper_enrichment_stars ON paper_enrichment (stars_checked_at)",
)

# v10: follows (authors, categories, saved searches), each paper's authors by a normalised key, and the personal
# feed token's generation (revoking the token adds one)
_V10_SQLITE = (
    "ALTER TABLE users ADD COLUMN feed_generation INTEGER NOT NULL DEFAULT 0",
    # "anything new from this model?" (every search's refresh asks it per vector tier) answered from an index:
    # by seq alone, a tier with no vectors yet (or none left) scanned every other tier's rows, 19 ms at 120k papers
    "CREATE INDEX ix_paper_embeddings_model_seq ON paper_embeddings (model, seq, paper_id)",
    """CREATE TABLE paper_authors (
        arxiv_id TEXT NOT NULL REFERENCES papers (arxiv_id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (arxiv_id, position)
    ) WITHOUT ROWID""",
    "CREATE INDEX ix_paper_authors_key ON paper_authors (key, arxiv_id)",
    """CREATE TABLE follows (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        key TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        by_digest INTEGER NOT NULL DEFAULT 1,
        by_webhook INTEGER NOT NULL DEFAULT 1,
        UNIQUE (user_id, kind, key)
    )""",
    "CREATE INDEX ix_follows_kind_key ON follows (kind, key)",
    """CREATE TABLE webhooks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        failures INTEGER NOT NULL DEFAULT 0,
        disabled_reason TEXT,
        created_at DATETIME NOT NULL,
        last_success_at DATETIME
    )""",
    """CREATE TABLE alerts (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        follow_id INTEGER NOT NULL,
        for_digest INTEGER NOT NULL,
        digest_edition TEXT,
        webhook_batch TEXT,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (user_id, paper_id)
    )""",
    "CREATE INDEX ix_alerts_digest ON alerts (user_id, digest_edition)",
    "CREATE INDEX ix_alerts_batch ON alerts (webhook_batch)",
    """CREATE TABLE notes (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        body TEXT NOT NULL,
        html TEXT NOT NULL,
        updated_at DATETIME NOT NULL,
        PRIMARY KEY (user_id, paper_id)
    )""",
    # what digest readers say about the papers mailed to them (the mail's links), and whether opens are recorded
    "ALTER TABLE subscriptions ADD COLUMN record_opens INTEGER NOT NULL DEFAULT 1",
    """CREATE TABLE digest_feedback (
        subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        signal TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (subscription_id, paper_id, signal)
    )""",
    """CREATE TABLE reads (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        read_at DATETIME NOT NULL,
        PRIMARY KEY (user_id, paper_id)
    )""",
    # the outbox also carries webhook batches: rebuilt (SQLite cannot drop a NOT NULL) with a webhook_id beside
    # the subscription_id, exactly one of them set, and its channel
    """CREATE TABLE outbox_v10 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subscription_id INTEGER REFERENCES subscriptions (id) ON DELETE CASCADE,
        webhook_id INTEGER REFERENCES webhooks (id) ON DELETE CASCADE,
        channel TEXT NOT NULL DEFAULT 'mail',
        edition TEXT NOT NULL,
        recipient TEXT NOT NULL,
        message_id TEXT NOT NULL,
        message BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DATETIME NOT NULL,
        claimed_at DATETIME,
        last_error TEXT,
        created_at DATETIME NOT NULL,
        sent_at DATETIME,
        UNIQUE (subscription_id, edition),
        UNIQUE (webhook_id, edition)
    )""",
    """INSERT INTO outbox_v10 (id, subscription_id, edition, recipient, message_id, message, status, attempts,
        next_attempt_at, claimed_at, last_error, created_at, sent_at)
        SELECT id, subscription_id, edition, recipient, message_id, message, status, attempts, next_attempt_at,
        claimed_at, last_error, created_at, sent_at FROM outbox""",
    "DROP TABLE outbox",
    "ALTER TABLE outbox_v10 RENAME TO outbox",
    "CREATE INDEX ix_outbox_due ON outbox (status, next_attempt_at)",
)

# conformal digests: a subscription's target level and exploration switch, and what each mail held (the random
# calibration pick, the "something new" pick, the confident set) with the scores it had, for the labels
_V11_SQLITE = (
    "ALTER TABLE subscriptions ADD COLUMN confidence REAL",
    "ALTER TABLE subscriptions ADD COLUMN explore INTEGER NOT NULL DEFAULT 1",
    """CREATE TABLE digest_slots (
        subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
        edition TEXT NOT NULL,
        paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        topic TEXT,
        scores TEXT NOT NULL,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (subscription_id, edition, paper_id)
    )""",
    "CREATE INDEX ix_digest_slots_kind ON digest_slots (kind, created_at)",
)

_V1_PG, _V2_PG, _V3_PG, _V4_PG, _V5_PG, _V6_PG, _V7_PG, _V8_PG, _V9_PG, _V10_PG, _V11_PG = (
    migrations_pg.V1,
    migrations_pg.V2,
    migrations_pg.V3,
    migrations_pg.V4,
    migrations_pg.V5,
    migrations_pg.V6,
    migrations_pg.V7,
    migrations_pg.V8,
    migrations_pg.V9,
    migrations_pg.V10,
    migrations_pg.V11,
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "papers, versions, categories, ingest state, FTS5", _V1_SQLITE, _V1_PG),
    Migration(2, "change sequence for search indexes, embeddings; FTS5 dropped", _V2_SQLITE, _V2_PG),
    Migration(3, "accounts, sessions, tokens, votes, comments, collections, removed papers", _V3_SQLITE, _V3_PG),
    Migration(4, "digest subscriptions and the outbox", _V4_SQLITE, _V4_PG),
    Migration(5, "dismissals and interests for recommendations", _V5_SQLITE, _V5_PG),
    Migration(6, "background job queue", _V6_SQLITE, _V6_PG),
    Migration(7, "artifacts: fitted models", _V7_SQLITE, _V7_PG),
    Migration(8, "comments keep their sanitised HTML", _V8_SQLITE, _V8_PG),
    Migration(9, "enrichment: code links, key phrases, extracted summaries", _V9_SQLITE, _V9_PG),
    Migration(10, "follows, paper authors by key, personal feed tokens", _V10_SQLITE, _V10_PG),
    Migration(11, "conformal digests: confidence level, exploration, what each mail held", _V11_SQLITE, _V11_PG),
)

_BOOKKEEPING = {
    "sqlite": """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DATETIME NOT NULL)""",
    "postgresql": """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)""",
}
# Two processes migrating one PostgreSQL database at once queue on this lock instead of racing.
_PG_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(7261001)"


def current_version(conn: sa.Connection) -> int:
    """The highest applied migration, 0 for a database that was never initialised."""
    if not sa.inspect(conn).has_table("schema_migrations"):
        return 0
    value = conn.exec_driver_sql("SELECT MAX(version) FROM schema_migrations").scalar()
    return int(value or 0)


# Indexes a first bulk load into an empty store builds once at the end instead of row by row: author keys
# arrive in random order, so each insert lands on a random page of an index that outgrows the page cache (over
# 1M papers the import ran 27% faster with it built after; docs/decisions.md). Both dialects take the same DDL.
BULK_DEFERRED_INDEXES = {
    "ix_paper_authors_key": "CREATE INDEX IF NOT EXISTS ix_paper_authors_key ON paper_authors (key, arxiv_id)",
}


def ensure_indexes(conn: sa.Connection) -> None:
    """Build any index a bulk load deferred and did not get to build (it was killed); the others are left be."""
    for ddl in BULK_DEFERRED_INDEXES.values():
        conn.exec_driver_sql(ddl)  # IF NOT EXISTS: nothing to do when it is there


def migrate(engine: sa.Engine) -> list[int]:
    """Apply every pending migration, each in its own transaction; return the versions applied."""
    dialect = engine.dialect.name
    if dialect not in _BOOKKEEPING:
        raise PaperfeedError(f"no migrations for the {dialect} backend")
    applied: list[int] = []
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql(_PG_MIGRATION_LOCK)
        conn.exec_driver_sql(_BOOKKEEPING[dialect])
        found = current_version(conn)
    if found > latest_version():
        raise StoreError(
            f"database schema version {found} is newer than this paperfeed knows ({latest_version()}): "
            "upgrade paperfeed"
        )
    for migration in MIGRATIONS:
        with engine.begin() as conn:
            if dialect == "postgresql":
                conn.exec_driver_sql(_PG_MIGRATION_LOCK)
            if current_version(conn) >= migration.version:
                continue
            for statement in migration.statements(dialect):
                conn.exec_driver_sql(statement)
            conn.execute(
                sa.text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)"),
                {"v": migration.version, "n": migration.name, "t": datetime.now(UTC).replace(tzinfo=None)},
            )
            applied.append(migration.version)
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql(_PG_MIGRATION_LOCK)
        ensure_indexes(conn)
    return applied


def latest_version() -> int:
    return MIGRATIONS[-1].version
