"""GitHub stars of the code repositories papers link to, from GitHub's public REST API (optional, off by default:
see Settings.github_stars_every_minutes). Unauthenticated, GitHub allows 60 requests an hour; a token
(Settings.github_token) raises that to 5,000. The fetcher stops a round when the rate limit says none are left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from paperfeed.errors import HttpStatusError
from paperfeed.ingest.fetch import PoliteClient

GONE = (404, 410, 451)  # the repository is gone (or hidden): its stars are unknown for good


@dataclass(frozen=True, slots=True)
class StarsReport:
    checked: int
    found: int
    limited: bool  # the round stopped at GitHub's rate limit


def repo_path(url: str) -> str | None:
    """``owner/repo`` of a github.com repository URL, else None."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.hostname != "github.com" or len(segments) != 2:
        return None
    return "/".join(segments)


def stars_of(client: PoliteClient, api_url: str, repo_url: str) -> int | None:
    """The repository's stargazer count; None when GitHub says it is gone. HttpStatusError for the rest (403 and
    429 are the rate limit)."""
    path = repo_path(repo_url)
    if path is None:
        return None
    try:
        body = client.get(f"{api_url.rstrip('/')}/repos/{path}")
    except HttpStatusError as exc:
        if exc.http_status in GONE:
            return None
        raise
    try:
        count = orjson.loads(body).get("stargazers_count")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return count if isinstance(count, int) and 0 <= count < 10**9 else None


def fetch_stars(
    client: PoliteClient, api_url: str, repos: Sequence[tuple[int, str]], save: Callable[[int, int | None], None]
) -> StarsReport:
    """Look up each (key, repository URL) in turn, saving each answer as it comes; stop at the rate limit."""
    checked = found = 0
    for key, url in repos:
        try:
            stars = stars_of(client, api_url, url)
        except HttpStatusError as exc:
            if exc.http_status in (403, 429):
                return StarsReport(checked, found, limited=True)
            raise
        save(key, stars)
        checked, found = checked + 1, found + (stars is not None)
    return StarsReport(checked, found, limited=False)
