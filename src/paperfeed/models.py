"""Plain data: papers, authors, users and community records. No I/O happens here."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

_T = TypeVar("_T", date, datetime)

ARXIV_ABS_URL = "https://arxiv.org/abs/"
ARXIV_PDF_URL = "https://arxiv.org/pdf/"


@dataclass(frozen=True, slots=True)
class Author:
    """One author of a paper, in the order the paper lists them."""

    name: str
    affiliation: str | None = None


@dataclass(frozen=True, slots=True)
class PaperVersion:
    """One arXiv version of a paper (v1, v2, ...) and when it was submitted, if known."""

    version: int
    created_at: datetime | None = None


@dataclass(slots=True)
class Paper:
    """A paper as paperfeed keeps it.

    ``arxiv_id`` never carries a version suffix; ``version`` is the latest version we have seen (None when the
    source does not say). ``feed_date`` is the day the paper entered the feed: the arXiv announcement (first
    seen) day, or for an imported Daily Papers item its submitted-on-daily day. ``upvotes``, ``num_comments``,
    ``submitted_by`` and ``submitted_at`` hold community data.
    """

    arxiv_id: str
    title: str
    abstract: str
    authors: tuple[Author, ...] = ()
    categories: tuple[str, ...] = ()
    version: int | None = None
    first_version_at: datetime | None = None
    latest_version_at: datetime | None = None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    feed_date: date | None = None
    source: str = "unknown"
    versions: tuple[PaperVersion, ...] = ()
    upvotes: int = 0
    num_comments: int = 0
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    extra_links: dict[str, str] = field(default_factory=dict)

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def versioned_id(self) -> str:
        return f"{self.arxiv_id}v{self.version}" if self.version else self.arxiv_id

    @property
    def links(self) -> dict[str, str]:
        """Where the paper lives: arXiv abstract and PDF (linked, never re-hosted), DOI, and any extra links."""
        out = {"abs": ARXIV_ABS_URL + self.versioned_id, "pdf": ARXIV_PDF_URL + self.versioned_id}
        if self.doi:
            out["doi"] = "https://doi.org/" + self.doi
        out.update(self.extra_links)
        return out

    def as_dict(self) -> dict[str, Any]:
        """The native JSON shape of a paper (API, CLI ``--json``): every field, camelCase names as in the Hugging
        Face Papers API, dates as ISO 8601 strings."""
        return {
            "id": self.arxiv_id,
            "version": self.version,
            "title": self.title,
            "abstract": self.abstract,
            "authors": [{"name": a.name, "affiliation": a.affiliation} for a in self.authors],
            "categories": list(self.categories),
            "primaryCategory": self.primary_category,
            "firstVersionAt": _iso(self.first_version_at),
            "latestVersionAt": _iso(self.latest_version_at),
            "comment": self.comment,
            "journalRef": self.journal_ref,
            "doi": self.doi,
            "license": self.license,
            "feedDate": _iso(self.feed_date),
            "source": self.source,
            "versions": [{"version": v.version, "createdAt": _iso(v.created_at)} for v in self.versions],
            "upvotes": self.upvotes,
            "numComments": self.num_comments,
            "submittedBy": self.submitted_by,
            "submittedAt": _iso(self.submitted_at),
            "links": self.links,
        }


@dataclass(frozen=True, slots=True)
class Enrichment:
    """What paperfeed computed from a paper's own text (see :mod:`paperfeed.enrich`), never invented: the code
    repository and project page its abstract or comment links to, key phrases found in it, the abstract's most
    central sentence (``summary``, extracted word for word), and when it was withdrawn (its latest version's
    date, for a paper whose comment or abstract says it was withdrawn). ``github_stars`` stays None offline."""

    github_repo: str | None = None
    project_page: str | None = None
    keywords: tuple[str, ...] = ()
    summary: str | None = None
    withdrawn_at: datetime | None = None
    github_stars: int | None = None


@dataclass(frozen=True, slots=True)
class User:
    """A reader account. ``name`` is unique ignoring case."""

    id: int
    name: str
    email: str | None = None
    is_admin: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Vote:
    """One user's upvote of one paper."""

    user_id: int
    arxiv_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment in a paper's discussion thread; ``body`` is the Markdown as written, ``html`` the sanitised
    HTML made from it when it was written ('' for comments stored before that was kept)."""

    id: int
    arxiv_id: str
    user_id: int
    user_name: str
    body: str
    created_at: datetime
    hidden: bool = False
    html: str = ""


@dataclass(frozen=True, slots=True)
class Collection:
    """A named list of papers kept by one user, shown to others only when public."""

    id: int
    owner: str
    name: str
    slug: str
    public: bool
    created_at: datetime
    size: int = 0


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token a script sends as ``Authorization: Bearer ...`` (only its hash is stored)."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """An e-mail digest subscription: who, how often, and what goes in."""

    id: int
    email: str
    frequency: str  # daily | weekly
    weekday: int = 0  # weekly: 0 Monday .. 6 Sunday
    content: str = "trending"  # trending | for_you (trending until personal recommendations exist)
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    max_papers: int = 10
    min_upvotes: int = 0
    confirmed: bool = False
    active: bool = True  # not unsubscribed and not paused
    user_id: int | None = None
    permanent_failures: int = 0
    record_opens: bool = True  # the mail's title links record that the reader opened the paper
    confidence: float | None = None  # "only what we are confident about": the target FDR; None: max_papers
    explore: bool = True  # "for you" mails carry one "something new" paper


@dataclass(frozen=True, slots=True)
class Follow:
    """Something a reader follows: an author (``key``: paperfeed.models.author_key of the name), a category
    (``cs.LG``, or an archive: ``math``), or a saved search (``value``: the query in the full syntax)."""

    id: int
    user_id: int
    kind: str  # author | category | query
    value: str
    key: str
    created_at: datetime
    by_digest: bool = True  # new matches go into the reader's digest ("followed" section)
    by_webhook: bool = True  # ... and to their webhook, when they have one


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where a reader's new matches are POSTed; ``secret`` signs each delivery. Switched off (``active`` False,
    ``disabled_reason`` saying why) after repeated failed deliveries."""

    id: int
    user_id: int
    url: str
    secret: str
    active: bool
    failures: int
    disabled_reason: str | None
    created_at: datetime
    last_success_at: datetime | None = None


def author_key(name: str) -> str:
    """What makes two spellings of an author's name the same author: accents, case, punctuation and spacing
    aside ("Jürgen Schmidhuber", "Jurgen  Schmidhuber" and "jurgen schmidhuber" share one key). Initials are not
    expanded: "Y. LeCun" stays apart from "Yann LeCun", since the data cannot tell whether they are one person."""
    if name.isascii():  # most names: the same key without the Unicode work (an import calls this per author)
        return " ".join(name.translate(_ASCII_NON_WORD).casefold().split())
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", plain).split())


_ASCII_NON_WORD = {c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}  # what \W is in ASCII


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _later(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _earliest(a: _T | None, b: _T | None) -> _T | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _latest(a: _T | None, b: _T | None) -> _T | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def version_is_older(incoming: int | None, stored: int | None) -> bool:
    """True when a record of version ``incoming`` is a known older version than the ``stored`` one (it must
    not overwrite it)."""
    return incoming is not None and stored is not None and incoming < stored


def merge_papers(stored: Paper, incoming: Paper) -> Paper:
    """The record after ``incoming`` (same or newer version) arrives for ``stored``.

    Metadata comes from the incoming record where it has any, and falls back to what is stored, so a source
    that lacks a field (no DOI, no categories) never blanks it. The feed date is the earliest either has
    (the day the paper first entered the feed); the version history is the union of both; community counts
    never go down; the first source and submitter are kept.
    """
    versions = {v.version: v for v in stored.versions}
    for v in incoming.versions:
        if v.version not in versions or versions[v.version].created_at is None:
            versions[v.version] = v
    return Paper(
        arxiv_id=stored.arxiv_id,
        title=incoming.title or stored.title,
        abstract=incoming.abstract or stored.abstract,
        authors=incoming.authors or stored.authors,
        categories=incoming.categories or stored.categories,
        version=_later(stored.version, incoming.version),
        first_version_at=_earliest(stored.first_version_at, incoming.first_version_at),
        latest_version_at=_latest(stored.latest_version_at, incoming.latest_version_at),
        comment=incoming.comment if incoming.comment is not None else stored.comment,
        journal_ref=incoming.journal_ref if incoming.journal_ref is not None else stored.journal_ref,
        doi=incoming.doi if incoming.doi is not None else stored.doi,
        license=incoming.license if incoming.license is not None else stored.license,
        feed_date=_earliest(stored.feed_date, incoming.feed_date),
        source=stored.source,
        versions=tuple(versions[k] for k in sorted(versions)),
        upvotes=max(stored.upvotes, incoming.upvotes),
        num_comments=max(stored.num_comments, incoming.num_comments),
        submitted_by=stored.submitted_by or incoming.submitted_by,
        submitted_at=stored.submitted_at or incoming.submitted_at,
        extra_links={**stored.extra_links, **incoming.extra_links},
    )
