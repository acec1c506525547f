"""JSON shapes. The Hugging Face Papers API's field names and date format (ISO 8601 with ``Z``) are kept
exactly, so its clients work unchanged; paperfeed's own fields live under native routes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from paperfeed.feed import Related
from paperfeed.models import Collection, Comment, Enrichment, Paper


def iso_z(value: datetime | date | None) -> str | None:
    """``2025-03-18T00:00:00.000Z``: UTC, milliseconds, a ``Z`` (as huggingface.co writes dates)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), UTC)
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _submitter(name: str | None) -> dict[str, Any] | None:
    """The Hub's user object for whoever put a paper on the daily list (``user`` is the name its client reads)."""
    if not name:
        return None
    return {"_id": name, "avatarUrl": None, "fullname": name, "name": name, "user": name, "type": "user",
            "isPro": False}  # fmt: skip


def _enriched(e: Enrichment | None) -> dict[str, Any]:
    """The fields the Hub computes for a paper, here computed from its own text (paperfeed.enrich)."""
    return {
        "ai_summary": e.summary if e else None,
        "ai_keywords": list(e.keywords) if e else [],
        "githubRepo": e.github_repo if e else None,
        "githubStars": e.github_stars if e else None,
        "projectPage": e.project_page if e else None,
        "withdrawnAt": iso_z(e.withdrawn_at) if e else None,
    }


def hf_paper(p: Paper, e: Enrichment | None = None) -> dict[str, Any]:
    """The ``paper`` object of /api/papers/{id} and /api/daily_papers, with the Hub's field names."""
    return {
        "id": p.arxiv_id,
        "authors": [{"_id": f"{p.arxiv_id}:{i}", "name": a.name, "hidden": False} for i, a in enumerate(p.authors)],
        "publishedAt": iso_z(p.first_version_at or p.feed_date),
        "submittedOnDailyAt": iso_z(p.submitted_at or p.feed_date),
        "submittedOnDailyBy": _submitter(p.submitted_by),
        "title": p.title,
        "summary": p.abstract,
        "upvotes": p.upvotes,
        "numComments": p.num_comments,
        "discussionId": p.arxiv_id,
        "isAuthorParticipating": False,  # accounts here are not linked to arXiv authors
        "organization": None,
        **_enriched(e),
    }


def hf_daily_item(p: Paper, e: Enrichment | None = None) -> dict[str, Any]:
    """One item of /api/daily_papers: the paper, and the daily-listing fields beside it. The computed fields are
    repeated at the top, where ``huggingface_hub``'s PaperInfo reads them for a daily item."""
    return {
        "paper": hf_paper(p, e),
        "publishedAt": iso_z(p.submitted_at or p.feed_date),
        "title": p.title,
        "summary": p.abstract,
        "thumbnail": None,
        "numComments": p.num_comments,
        "submittedBy": _submitter(p.submitted_by),
        "organization": None,
        "isAuthorParticipating": False,
        **_enriched(e),
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    """The one error shape of every API response that is not a success."""
    return {"error": {"status": status, "message": message}}


def comment_dict(c: Comment, html: str) -> dict[str, Any]:
    """A comment: the Markdown as written and the sanitised HTML made from it."""
    return {
        "id": c.id,
        "paperId": c.arxiv_id,
        "author": {"name": c.user_name},
        "body": c.body,
        "html": html,
        "createdAt": iso_z(c.created_at),
        "hidden": c.hidden,
    }


def related_dict(found: Related) -> dict[str, Any]:
    """What leads onward from a paper (``/api/papers/{id}/related``): its upvoters' other upvotes, with how many
    of them, and the public collections that hold it."""
    return {
        "alsoUpvoted": [{"paper": p.as_dict(), "readers": n} for p, n in found.also_upvoted],
        "collections": [collection_dict(c) for c in found.collections],
    }


def collection_dict(c: Collection) -> dict[str, Any]:
    return {
        "owner": c.owner,
        "name": c.name,
        "slug": c.slug,
        "public": c.public,
        "size": c.size,
        "createdAt": iso_z(c.created_at),
        "url": f"/u/{c.owner}/collections/{c.slug}",
    }
