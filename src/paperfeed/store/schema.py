"""The current schema as SQLAlchemy Core tables, used to build queries.

The DDL that creates these tables lives, frozen per version, in :mod:`paperfeed.store.migrations`;
``tests/test_store.py`` checks that a migrated database matches these definitions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A moment in UTC: stored without a zone (SQLite DATETIME, PostgreSQL TIMESTAMP), always UTC; an aware
    value is converted on the way in (a naive one is taken as UTC already), and values come back aware. The one
    place timestamps are converted, for every table and both dialects."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            naive: datetime = value.astimezone(UTC).replace(tzinfo=None)
            return naive
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value  # SQLite: text via expressions
        if not isinstance(moment, datetime):
            raise TypeError(f"a UtcDateTime column held {type(moment).__name__}")
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


metadata = sa.MetaData()

papers = sa.Table(
    "papers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("arxiv_id", sa.String, nullable=False, unique=True),
    sa.Column("version", sa.Integer),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("abstract", sa.String, nullable=False),
    sa.Column("authors", sa.String, nullable=False),  # JSON list of {"name", "affiliation"?}, in order
    sa.Column("authors_text", sa.String, nullable=False),  # "A, B, C": what keyword search indexes
    sa.Column("categories", sa.String, nullable=False),  # space-separated, primary first
    sa.Column("primary_category", sa.String),
    sa.Column("first_version_at", UtcDateTime),
    sa.Column("latest_version_at", UtcDateTime),
    sa.Column("comment", sa.String),
    sa.Column("journal_ref", sa.String),
    sa.Column("doi", sa.String),
    sa.Column("license", sa.String),
    sa.Column("feed_date", sa.Date),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("extra_links", sa.String),  # JSON object or NULL
    sa.Column("content_hash", sa.String, nullable=False),
    sa.Column("upvotes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("num_comments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("submitted_by", sa.String),
    sa.Column("submitted_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # commit sequence number of the last write to this row: search indexes catch up on rows with a higher seq
    sa.Column("seq", sa.Integer, nullable=False, server_default="0"),
    # this instance's own votes and comments, beside the source's counts above (see migration v3)
    sa.Column("local_upvotes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("local_comments", sa.Integer, nullable=False, server_default="0"),
)

paper_embeddings = sa.Table(
    "paper_embeddings",
    metadata,
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String, nullable=False),
    sa.Column("text_hash", sa.String, nullable=False),  # of the title and abstract that were embedded
    sa.Column("paper_seq", sa.Integer, nullable=False),  # the paper's seq when last checked
    sa.Column("seq", sa.Integer, nullable=False),  # commit sequence of this row, for the vector index
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float16, unit length
)

paper_versions = sa.Table(
    "paper_versions",
    metadata,
    sa.Column("arxiv_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_at", UtcDateTime),
)

paper_categories = sa.Table(
    "paper_categories",
    metadata,
    sa.Column("arxiv_id", sa.String, primary_key=True),
    sa.Column("category", sa.String, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)

ingest_state = sa.Table(
    "ingest_state",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),  # JSON
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False, unique=True),  # unique ignoring case
    sa.Column("email", sa.String),
    sa.Column("password_hash", sa.String, nullable=False),  # argon2id, encoded with its parameters
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("interests", sa.String, nullable=False, server_default=""),  # free text, for cold start
    # the personal feed URL's token is an HMAC of the id and this number; revoking it adds one (migration 10)
    sa.Column("feed_generation", sa.Integer, nullable=False, server_default="0"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String, primary_key=True),  # sha256 of the cookie: a leaked table logs no one in
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String, nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime),
)

votes = sa.Table(
    "votes",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("body", sa.String, nullable=False),  # Markdown as written
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default="0"),
    sa.Column("html", sa.String),  # sanitised HTML made when written (migration 8); NULL for older comments
)

collections = sa.Table(
    "collections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("slug", sa.String, nullable=False),
    sa.Column("public", sa.Boolean, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

collection_papers = sa.Table(
    "collection_papers",
    metadata,
    sa.Column("collection_id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("added_at", UtcDateTime, nullable=False),
)

removed_papers = sa.Table(
    "removed_papers",
    metadata,
    sa.Column("arxiv_id", sa.String, primary_key=True),  # imports skip these ids
    sa.Column("removed_by", sa.String, nullable=False),
    sa.Column("reason", sa.String),
    sa.Column("removed_at", UtcDateTime, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String, nullable=False, unique=True),  # unique ignoring case
    sa.Column("user_id", sa.Integer),
    sa.Column("frequency", sa.String, nullable=False),  # daily | weekly
    sa.Column("weekday", sa.Integer, nullable=False, server_default="0"),  # weekly: 0 Monday .. 6 Sunday
    sa.Column("content", sa.String, nullable=False, server_default="trending"),  # trending | for_you
    sa.Column("categories", sa.String, nullable=False, server_default=""),  # space-separated
    sa.Column("keywords", sa.String, nullable=False, server_default=""),  # space-separated, any may match
    sa.Column("max_papers", sa.Integer, nullable=False, server_default="10"),
    sa.Column("min_upvotes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("confirmed_at", UtcDateTime),
    sa.Column("unsubscribed_at", UtcDateTime),
    sa.Column("paused_at", UtcDateTime),
    sa.Column("permanent_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # the mail's title links record "opened" (a reader may turn that off on the manage page; migration 10)
    sa.Column("record_opens", sa.Boolean, nullable=False, server_default="1"),
    # "only what you are confident about": the target false-discovery rate (0.1, 0.2, 0.3), None for a fixed
    # number; and whether "for you" mails carry one "something new" paper (migration 11)
    sa.Column("confidence", sa.Float),
    sa.Column("explore", sa.Boolean, nullable=False, server_default="1"),
)

# What each conformal or exploring mail held, with the model scores each paper had (JSON): kind "confident",
# "probe" (the uniformly random calibration pick) or "explore" ("something new", ``topic`` its category). The
# reader's feedback on these papers is what calibrates the next editions (paperfeed.digest.confident).
digest_slots = sa.Table(
    "digest_slots",
    metadata,
    sa.Column("subscription_id", sa.Integer, primary_key=True),
    sa.Column("edition", sa.String, primary_key=True),
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("topic", sa.String),
    sa.Column("scores", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscription_id", sa.Integer),  # a mail's (since migration 10, None for a webhook batch)
    sa.Column("webhook_id", sa.Integer),  # a webhook batch's (paperfeed.alerts)
    sa.Column("edition", sa.String, nullable=False),  # "daily:2025-03-18", "weekly:2025-W12", "confirm:<n>"
    sa.Column("recipient", sa.String, nullable=False),
    sa.Column("message_id", sa.String, nullable=False),
    sa.Column("message", sa.LargeBinary, nullable=False),  # the whole RFC 5322 message, as first rendered
    sa.Column("status", sa.String, nullable=False, server_default="pending"),  # pending|sending|sent|failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("claimed_at", UtcDateTime),
    sa.Column("last_error", sa.String),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("sent_at", UtcDateTime),
    # "mail", or "webhook": then recipient is the webhook's URL and message the JSON body
    sa.Column("channel", sa.String, nullable=False, server_default="mail"),
)

dismissals = sa.Table(
    "dismissals",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),  # ingest | embed | refit | digest
    sa.Column("key", sa.String, nullable=False, unique=True),  # names the job once and for all
    sa.Column("payload", sa.String, nullable=False, server_default="{}"),  # JSON arguments
    sa.Column("status", sa.String, nullable=False, server_default="queued"),  # queued|running|done|failed
    sa.Column("run_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_by", sa.String),  # the worker running it
    sa.Column("locked_at", UtcDateTime),  # refreshed while it runs; a stale one is taken over
    sa.Column("last_error", sa.String),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("name", sa.String, primary_key=True),  # e.g. "recommend:cmf"
    sa.Column("version", sa.Integer, nullable=False),  # 1, 2, ...: one more on each save
    sa.Column("meta", sa.String, nullable=False),  # JSON: what it was fitted on
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# What paperfeed computes from a paper's own text (paperfeed.enrich): code and project links, key phrases, an
# extracted one-sentence summary, withdrawal. ``content_hash`` is the paper's hash when this was computed, so a
# changed paper is computed again.
paper_enrichment = sa.Table(
    "paper_enrichment",
    metadata,
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("content_hash", sa.String, nullable=False),
    sa.Column("github_repo", sa.String),
    sa.Column("project_page", sa.String),
    sa.Column("keywords", sa.String, nullable=False),  # JSON list of key phrases, best first
    sa.Column("summary", sa.String),
    sa.Column("withdrawn_at", UtcDateTime),
    sa.Column("github_stars", sa.Integer),  # filled by the optional stars job (paperfeed.ingest.github)
    sa.Column("stars_checked_at", UtcDateTime),
    sa.Column("enriched_at", UtcDateTime, nullable=False),
)

# Each paper's authors by a normalised key (paperfeed.models.author_key), for author pages and author follows.
paper_authors = sa.Table(
    "paper_authors",
    metadata,
    sa.Column("arxiv_id", sa.String, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False),  # as the record spells it
    sa.Column("key", sa.String, nullable=False),
)

# What a reader follows: an author (by key), a category, or a saved search (the query as written).
follows = sa.Table(
    "follows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String, nullable=False),  # author | category | query
    sa.Column("value", sa.String, nullable=False),  # as the reader gave it (an author's name, cs.LG, the query)
    sa.Column("key", sa.String, nullable=False),  # what makes two follows the same
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("by_digest", sa.Boolean, nullable=False, server_default="1"),  # new matches go into the digest
    sa.Column("by_webhook", sa.Boolean, nullable=False, server_default="1"),  # ... and to the reader's webhook
)

# A reader's webhook: where new matches of their follows are POSTed (paperfeed.alerts.webhooks).
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False, unique=True),
    sa.Column("url", sa.String, nullable=False),
    sa.Column("secret", sa.String, nullable=False),  # signs each delivery (HMAC-SHA256)
    sa.Column("active", sa.Boolean, nullable=False, server_default="1"),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),  # failed deliveries in a row
    sa.Column("disabled_reason", sa.String),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_success_at", UtcDateTime),
)

# Each (reader, paper) a follow matched, once for good: what makes every alert go out once.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("follow_id", sa.Integer, nullable=False),
    sa.Column("for_digest", sa.Boolean, nullable=False),
    sa.Column("digest_edition", sa.String),  # the digest edition it went into (None: not yet)
    sa.Column("webhook_batch", sa.String),  # the webhook batch it goes out in (None: no webhook)
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# A reader's private Markdown note on a paper (``html``: sanitised when written), and the papers they marked read.
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("body", sa.String, nullable=False),
    sa.Column("html", sa.String, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

reads = sa.Table(
    "reads",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("read_at", UtcDateTime, nullable=False),
)

# What a digest reader said about a mailed paper through the mail's signed links: relevant | not_for_me | opened.
digest_feedback = sa.Table(
    "digest_feedback",
    metadata,
    sa.Column("subscription_id", sa.Integer, primary_key=True),
    sa.Column("paper_id", sa.Integer, primary_key=True),
    sa.Column("signal", sa.String, primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
