"""An edition run: compose every due subscriber's mail into the outbox, then deliver what is due.

Composing is idempotent per (subscription, edition): a run killed half-way, run again, composes only the mails
not yet queued, and a mail once queued is sent as first rendered.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from paperfeed.digest import confident
from paperfeed.digest.compose import (
    Edition,
    MailSettings,
    candidates,
    daily_edition,
    digest_mail,
    matches,
    search_texts,
    select,
    weekly_edition,
)
from paperfeed.models import Subscription
from paperfeed.recommend.serve import Scored
from paperfeed.store import Store
from paperfeed.store.digest_slots import Slot
from paperfeed.store.digests import OutgoingMail

ENQUEUE_BATCH = 500
FOLLOWED = 20  # new matches of a reader's follows in one edition, at most


@dataclass
class ComposeReport:
    editions: list[str] = field(default_factory=list)
    queued: int = 0
    already_queued: int = 0
    empty: int = 0  # subscribers whose filters left no paper: no mail


def due_editions(store: Store, day: date) -> list[tuple[Edition, list[Subscription]]]:
    """The editions to send on ``day`` with their subscribers: the daily one when papers were announced that
    day, and the weekly one for subscribers whose weekday it is."""
    found: list[tuple[Edition, list[Subscription]]] = []
    daily = daily_edition(store, day)
    if daily is not None:
        found.append((daily, store.due_subscriptions("daily", None)))
    weekly = store.due_subscriptions("weekly", day.weekday())
    if weekly:
        found.append((weekly_edition(day), weekly))
    return found


Personal = Callable[[Subscription, str], list[Scored]]  # (subscription, "day" | "week") -> papers, best first


def compose(
    store: Store, settings: MailSettings, day: date, *, now: datetime | None = None, dry_run: bool = False,
    personal: Personal | None = None, rng: np.random.Generator | None = None,
) -> ComposeReport:  # fmt: skip
    """Queue the mails of ``day``'s editions (``dry_run``: only count them). Subscribers who chose "for you" and
    have an account get ``personal``'s picks (their filters still apply), chosen by
    :func:`paperfeed.digest.confident.plan`; others, and those with no picks, get the edition's trending
    papers. ``rng`` draws the random and "something new" picks (by default seeded from the OS)."""
    now = now or datetime.now(UTC)
    rng = rng or np.random.default_rng(secrets.randbits(64))
    pools = confident.Pools(store, now)  # other readers' judged picks, read once for the whole run
    report = ComposeReport()
    for edition, subscribers in due_editions(store, day):
        report.editions.append(edition.key)
        done = store.queued_editions(edition.key, [s.id for s in subscribers])
        report.already_queued += len(done)
        papers = candidates(store, edition, now)
        texts = search_texts(papers)
        pending: list[OutgoingMail] = []
        marks: list[tuple[int, list[str]]] = []  # (reader, followed papers) of the pending mails
        slots: list[tuple[int, list[Slot]]] = []  # what the pending personal mails held
        for sub in subscribers:
            if sub.id in done:
                continue
            picked = _personal(personal, sub, edition)
            plan = confident.plan(store, sub, picked, now, rng, pools) if picked else None
            chosen = plan.picks if plan else select(papers, sub, texts)
            followed = store.digest_alerts(sub.user_id, edition.key, FOLLOWED) if sub.user_id is not None else []
            if not chosen and not followed and not (plan and (plan.probe or plan.explore)):
                report.empty += 1
                continue
            pending.append(digest_mail(settings, sub, edition, chosen, now, followed=followed, plan=plan))
            if followed and sub.user_id is not None:
                marks.append((sub.user_id, [p.arxiv_id for p in followed]))
            if plan and plan.slots:
                slots.append((sub.id, plan.slots))
            if len(pending) >= ENQUEUE_BATCH:
                report.queued += _flush(store, pending, marks, slots, edition, now, dry_run)
                pending, marks, slots = [], [], []
        report.queued += _flush(store, pending, marks, slots, edition, now, dry_run)
    return report


def _flush(store: Store, pending: list[OutgoingMail], marks: list[tuple[int, list[str]]],
           slots: list[tuple[int, list[Slot]]], edition: Edition, now: datetime, dry_run: bool) -> int:  # fmt: skip
    """Remember what the personal mails hold, queue the mails, then mark their followed papers as sent in this
    edition (a crash in between leaves them open for this same edition only, which composes them into the same
    mail again; a remembered pick of a mail that was then not queued is never judged, so never used)."""
    if dry_run:
        return len(pending)
    for sub_id, held in slots:
        store.record_slots(sub_id, edition.key, held, now)
    queued = store.enqueue(pending, now)
    for user_id, arxiv_ids in marks:
        store.mark_digested(user_id, arxiv_ids, edition.key)
    return queued


def _personal(personal: Personal | None, sub: Subscription, edition: Edition) -> Sequence[Scored]:
    """The reader's scored picks that pass the subscription's filters, best first."""
    if personal is None or sub.content != "for_you" or sub.user_id is None:
        return []
    picks = personal(sub, "day" if edition.frequency == "daily" else "week")
    texts = search_texts([s.paper for s in picks])
    return [s for s, text in zip(picks, texts, strict=True) if matches(s.paper, text, sub)]
