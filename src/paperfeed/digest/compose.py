"""Composing mails: which papers go into a subscriber's edition, and the multipart message itself.

Every header is set through :class:`email.message.EmailMessage` with the SMTP policy, which refuses a CR or LF
in any header value, so no user-supplied field (an address, a keyword) can add a header.

Headers that carry a URL (``List-Unsubscribe``) must stay plain ``<https://...>`` text (RFC 2369, RFC 8058): the
SMTP policy's 78-character lines made Python turn a long one into RFC 2047 encoded words, which mail providers
do not read as a link, so one-click unsubscribe broke. Lines may be up to RFC 5322's 998 characters instead,
and a URL header that would not fit is refused.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from paperfeed import feed
from paperfeed.digest import links
from paperfeed.digest.confident import Plan, explanation
from paperfeed.digest.feedback import item_links
from paperfeed.errors import MailError
from paperfeed.models import Paper, Subscription
from paperfeed.store import Store
from paperfeed.store.digests import OutgoingMail

CANDIDATES = 200  # the edition's top papers by trending score, filtered per subscriber
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


@dataclass(frozen=True, slots=True)
class Edition:
    """One issue of the digest: ``key`` names it in the outbox ("daily:2025-03-18", "weekly:2025-W11")."""

    key: str
    frequency: str
    title: str
    day: str | None = None
    week: str | None = None


@dataclass(frozen=True, slots=True)
class MailSettings:
    sender: str
    base_url: str
    secret_key: str


def daily_edition(store: Store, day: date) -> Edition | None:
    """The daily edition for ``day``, or None when no papers were announced that day."""
    if store.count_papers(day, day) == 0:
        return None
    return Edition(f"daily:{day.isoformat()}", "daily", f"Papers of {day:%a %d %b %Y}", day=day.isoformat())


def weekly_edition(day: date) -> Edition:
    """The weekly edition sent on ``day``: the last complete ISO week before it."""
    year, week, _ = (day - timedelta(days=day.isoweekday())).isocalendar()
    label = f"{year}-W{week:02d}"
    return Edition(f"weekly:{label}", "weekly", f"Papers of week {label}", week=label)


def candidates(store: Store, edition: Edition, now: datetime) -> list[Paper]:
    period = feed.period_of(day=edition.day, week=edition.week)  # the edition's own labels, made by us
    return feed.feed(store, period, sort="trending", limit=CANDIDATES, now=now).papers


def _words(sub: Subscription) -> list[re.Pattern[str]]:
    return [re.compile(rf"\b{re.escape(k.lower())}") for k in sub.keywords]


def matches(paper: Paper, text: str, sub: Subscription, words: Sequence[re.Pattern[str]] | None = None) -> bool:
    """Whether ``paper`` (``text``: its lower-cased title and abstract) passes the subscription's filters."""
    words = _words(sub) if words is None else words
    if paper.upvotes < sub.min_upvotes:
        return False
    if sub.categories and not any(c == want or c.startswith(want + ".") for c in paper.categories
                                  for want in sub.categories):  # fmt: skip
        return False
    return not words or any(word.search(text) for word in words)


def select(papers: Sequence[Paper], sub: Subscription, texts: Sequence[str] | None = None) -> list[Paper]:
    """The subscriber's papers from the edition's candidates (already in trending order). ``texts`` are the
    candidates' lower-cased titles and abstracts, made once per edition by :func:`search_texts`."""
    texts = texts if texts is not None else search_texts(papers)
    words = _words(sub)
    chosen: list[Paper] = []
    for paper, text in zip(papers, texts, strict=True):
        if matches(paper, text, sub, words):
            chosen.append(paper)
            if len(chosen) == sub.max_papers:
                break
    return chosen


def search_texts(papers: Sequence[Paper]) -> list[str]:
    return [f"{p.title} {p.abstract}".lower() for p in papers]


@functools.lru_cache(maxsize=4096)  # the same papers go into thousands of mails of an edition
def lead(abstract: str, sentences: int = 2, limit: int = 320) -> str:
    """The first one or two sentences of an abstract, at most ``limit`` characters."""
    text = " ".join(abstract.split())
    parts = _SENTENCE_END.split(text)
    short = " ".join(parts[:sentences])
    if len(short) > limit:
        short = " ".join(parts[:1])
    return short if len(short) <= limit else short[: limit - 1].rsplit(" ", 1)[0] + "…"


@functools.cache
def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["lead"] = lead
    return env


def _message_id(settings: MailSettings) -> str:
    domain = urlsplit(settings.base_url).hostname or "paperfeed.invalid"
    return f"<{secrets.token_hex(12)}@{domain}>"


_POLICY = SMTP.clone(max_line_length=998)


def _url_header(url: str) -> str:
    """``<url>`` for a header, checked to be plain ASCII on one line so that it is never encoded or folded."""
    value = f"<{url}>"
    if not url.isascii() or any(ch in url for ch in " <>\r\n") or len(value) > 900:
        raise MailError(f"a URL for a mail header must be plain ASCII of at most 898 characters: {url[:80]!r}")
    return value


def build(
    settings: MailSettings, recipient: str, subject: str, template: str, message_id: str, now: datetime,
    unsubscribe_url: str | None, **context: object,
) -> bytes:  # fmt: skip
    """A multipart/alternative message (plain text first, then HTML) as bytes with CRLF line ends."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = settings.sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    if unsubscribe_url:
        message["List-Unsubscribe"] = _url_header(unsubscribe_url)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    values = {"base_url": settings.base_url.rstrip("/"), "unsubscribe_url": unsubscribe_url, **context}
    message.set_content(_templates().get_template(f"{template}.txt").render(values))
    message.add_alternative(_templates().get_template(f"{template}.html").render(values), subtype="html")
    return message.as_bytes()


def urls(settings: MailSettings, sub: Subscription) -> dict[str, str]:
    base = settings.base_url.rstrip("/")
    token = links.sign(settings.secret_key, "manage", sub.id)
    return {
        "manage_url": f"{base}/subscribe/manage?token={token}",
        "unsubscribe_url": f"{base}/unsubscribe?token={token}",
    }


def digest_mail(
    settings: MailSettings, sub: Subscription, edition: Edition, papers: Sequence[Paper], now: datetime,
    followed: Sequence[Paper] = (), plan: Plan | None = None,
) -> OutgoingMail:  # fmt: skip
    """The edition's mail to ``sub``: ``followed`` (new matches of the reader's follows) first, then ``papers``
    (a personal ``plan``'s picks, with its marked extras after them, or the trending papers)."""
    links_ = urls(settings, sub)
    message_id = _message_id(settings)
    personal = plan is not None
    what = "picked for you" if personal else "trending"
    subject = f"{edition.title}: {len(papers)} paper{'s' if len(papers) != 1 else ''} {what}"
    if plan is not None and plan.level is not None and not papers:
        subject = f"{edition.title}: nothing we are confident about today, {1 + bool(plan.explore)} to judge"
    if followed:
        subject = f"{edition.title}: {len(followed)} new from what you follow, {len(papers)} {what}"
    body = build(
        settings, sub.email, subject, "digest", message_id, now, links_["unsubscribe_url"], edition=edition,
        papers=papers, subscription=sub, manage_url=links_["manage_url"], followed=followed, personal=personal,
        item_links=lambda paper: item_links(settings.base_url, settings.secret_key, sub, paper), plan=plan,
        how=explanation(plan) if plan else "",
    )  # fmt: skip
    return OutgoingMail(sub.id, edition.key, sub.email, message_id, body)


def confirmation_mail(settings: MailSettings, sub: Subscription, now: datetime) -> OutgoingMail:
    token = links.sign(settings.secret_key, "confirm", sub.id)
    confirm_url = f"{settings.base_url.rstrip('/')}/subscribe/confirm?token={token}"
    message_id = _message_id(settings)
    body = build(
        settings, sub.email, "Confirm your paperfeed digest", "confirm", message_id, now, None,
        confirm_url=confirm_url, subscription=sub,
    )  # fmt: skip
    return OutgoingMail(sub.id, f"confirm:{now.timestamp():.6f}", sub.email, message_id, body)


def reminder_mail(settings: MailSettings, sub: Subscription, now: datetime, prefix: str) -> OutgoingMail:
    """For a subscribe request about an address that already subscribes: its manage link (and a confirm link
    when it is unconfirmed, paused or unsubscribed); nothing about the subscription was changed."""
    links_ = urls(settings, sub)
    confirm_url = None
    if not (sub.confirmed and sub.active):
        token = links.sign(settings.secret_key, "confirm", sub.id)
        confirm_url = f"{settings.base_url.rstrip('/')}/subscribe/confirm?token={token}"
    message_id = _message_id(settings)
    body = build(
        settings, sub.email, "Your paperfeed digest", "reminder", message_id, now, None, subscription=sub,
        confirm_url=confirm_url, manage_url=links_["manage_url"],
    )  # fmt: skip
    return OutgoingMail(sub.id, f"{prefix}{now.timestamp():.6f}", sub.email, message_id, body)
