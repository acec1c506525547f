"""JSON shapes. The Hugging Face Papers API's field names and date format (ISO 8601 with ``Z``) are kept
exactly, so its clients work unchanged; paperfeed's own fields live under native routes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from paperfeed.models import Collection, Comment, Paper


def iso_z(value: datetime | date | None) -> str | None:
    """``2025-03-18T00:00:00.000Z``: UTC, milliseconds, a ``Z`` (as huggingface.co writes dates)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), UTC)
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def hf_paper(p: Paper) -> dict[str, Any]:
    """The ``paper`` object of /api/papers/{id} and /api/daily_papers."""
    return {
        "id": p.arxiv_id,
        "authors": [{"_id": f"{p.arxiv_id}:{i}", "name": a.name, "hidden": False} for i, a in enumerate(p.authors)],
        "publishedAt": iso_z(p.first_version_at or p.feed_date),
        "submittedOnDailyAt": iso_z(p.submitted_at or p.feed_date),
        "submittedOnDailyBy": {
            "_id": p.submitted_by,
            "name": p.submitted_by,
            "fullname": p.submitted_by,
            "type": "user",
        }
        if p.submitted_by
        else None,
        "title": p.title,
        "summary": p.abstract,
        "upvotes": p.upvotes,
        "numComments": p.num_comments,
        "discussionId": p.arxiv_id,
    }


def hf_daily_item(p: Paper) -> dict[str, Any]:
    """One item of /api/daily_papers: the paper, and the daily-listing fields beside it."""
    return {
        "paper": hf_paper(p),
        "publishedAt": iso_z(p.submitted_at or p.feed_date),
        "title": p.title,
        "summary": p.abstract,
        "thumbnail": None,
        "numComments": p.num_comments,
        "submittedBy": {"_id": p.submitted_by, "name": p.submitted_by, "fullname": p.submitted_by, "type": "user"}
        if p.submitted_by
        else None,
        "isAuthorParticipating": False,
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
