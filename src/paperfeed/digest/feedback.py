"""Feedback from the mail, without spying: every digest item carries "relevant" and "not for me" links and a
click-through on its title, each signed for one subscriber and one paper.

- The feedback links open a page where one click (a POST) records the judgement; GET never changes data.
- The click-through records "opened" (unless the subscriber turned that off on the manage page) and goes on to
  the paper. There are no tracking pixels, and nothing is recorded about a mail that is only read.
- Judgements join upvotes, collections and dismissals as the reader's labels ("relevant" counts as liked, "not
  for me" as dismissed) when the subscription belongs to an account. "Opened" records are kept OPENED_DAYS days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from paperfeed import feed
from paperfeed.digest import links
from paperfeed.errors import BadRequest, NotFound
from paperfeed.models import Paper, Subscription
from paperfeed.store import Store

Judgement = Literal["relevant", "not_for_me"]
JUDGEMENTS: tuple[Judgement, ...] = get_args(Judgement)
OPENED_DAYS = 180


def item_links(base_url: str, secret_key: str, sub: Subscription, paper: Paper) -> dict[str, str]:
    """The mail's links for one paper: ``open`` (the click-through), ``relevant`` and ``not_for_me``."""
    base = base_url.rstrip("/")
    out = {"open": f"{base}/digest/open?token={links.sign_item(secret_key, 'open', sub.id, paper.arxiv_id)}"}
    for judgement in JUDGEMENTS:
        token = links.sign_item(secret_key, judgement, sub.id, paper.arxiv_id)
        out[judgement] = f"{base}/digest/feedback?token={token}"
    return out


def _read(store: Store, secret_key: str, token: str, purposes: tuple[str, ...]) -> tuple[str, Subscription, Paper]:
    purpose, sub_id, arxiv_id = links.verify_item(secret_key, token)
    if purpose not in purposes:
        raise BadRequest("this link is not valid for this page")
    sub = store.get_subscription(sub_id)
    if sub is None:
        raise NotFound("this subscription no longer exists")
    return purpose, sub, feed.paper(store, arxiv_id)


def asked(store: Store, secret_key: str, token: str) -> tuple[str, Subscription, Paper]:
    """What a feedback link asks to record (shown on the page before the one click)."""
    return _read(store, secret_key, token, JUDGEMENTS)


def record(store: Store, secret_key: str, token: str) -> tuple[str, Subscription, Paper]:
    """Record a feedback link's judgement (the POST of its page)."""
    judgement, sub, paper = _read(store, secret_key, token, JUDGEMENTS)
    store.record_feedback(sub.id, paper.arxiv_id, judgement, datetime.now(UTC))
    return judgement, sub, paper


def opened(store: Store, secret_key: str, token: str) -> Paper:
    """Follow a title link: record "opened" when the subscriber allows it; the paper to go on to."""
    _, sub, paper = _read(store, secret_key, token, ("open",))
    if sub.record_opens:
        store.record_feedback(sub.id, paper.arxiv_id, "opened", datetime.now(UTC))
    return paper


def prune(store: Store, now: datetime | None = None) -> int:
    """Forget "opened" records older than OPENED_DAYS days."""
    return store.prune_feedback("opened", (now or datetime.now(UTC)) - timedelta(days=OPENED_DAYS))
