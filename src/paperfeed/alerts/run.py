"""The alerts job: match the papers written since the last run against every reader's follows, record each new
(reader, paper) match once, and queue one webhook batch per reader per chunk of papers.

The position (the store's change feed: commit sequence, key) is saved after each chunk. The webhook batches of a
chunk are named by the chunk's start, so a run killed half-way and run again queues nothing twice (the outbox
keeps one row per webhook and batch name), and the matches recorded stay recorded: every alert goes out once.
On its very first run an instance starts from the papers it has now: only papers that arrive later alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from paperfeed.alerts.webhooks import payload
from paperfeed.models import Follow, Paper, Webhook
from paperfeed.search.matching import match
from paperfeed.store import Store
from paperfeed.store.alerts import AlertRow
from paperfeed.store.digests import OutgoingMail

POSITION = "alerts:position"
CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class AlertReport:
    papers: int
    matches: int  # new (reader, paper) pairs
    batches: int  # webhook batches queued
    seconds: float = 0.0


def run_alerts(
    store: Store, base_url: str, *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
    should_stop: Callable[[], bool] = lambda: False,
) -> AlertReport:  # fmt: skip
    """Match everything written since the last run; see the module docstring."""
    started = datetime.now(UTC)
    state = store.get_state(POSITION)
    if state is None:  # the first run: what is here already is not news
        store.set_state(POSITION, {"seq": store.change_seq(), "key": 2**62})
        return AlertReport(0, 0, 0)
    position = (int(state["seq"]), int(state["key"]))
    follows = store.all_follows()
    papers = matches = batches = 0
    while not should_stop():
        changed = store.changed_papers(position, CHUNK)
        if not changed:
            break
        found = store.papers_by_key([d.key for d in changed])
        chunk = [found[d.key] for d in changed if d.key in found]
        keys = {found[d.key].arxiv_id: d.key for d in changed if d.key in found}
        matched = match(chunk, follows) if follows else {}
        batch = f"webhook:{position[0]}:{position[1]}"
        hooks = store.active_webhooks(list(matched)) if matched else {}
        rows = [
            AlertRow(user, keys[p.arxiv_id], f.id, f.by_digest, batch if f.by_webhook and user in hooks else None)
            for user, pairs in matched.items() for p, f in pairs
        ]  # fmt: skip
        matches += store.record_alerts(rows, now())
        batches += _queue_hooks(store, matched, keys, hooks, batch, base_url, now())
        papers += len(chunk)
        position = (changed[-1].seq, changed[-1].key)
        store.set_state(POSITION, {"seq": position[0], "key": position[1]})
    return AlertReport(papers, matches, batches, (datetime.now(UTC) - started).total_seconds())


def _queue_hooks(
    store: Store, matched: dict[int, list[tuple[Paper, Follow]]], keys: dict[str, int], hooks: dict[int, Webhook],
    batch: str, base_url: str, now: datetime,
) -> int:  # fmt: skip
    """One webhook batch per reader: the matches recorded for ``batch`` (so a run repeated after a crash queues
    the same batch, which the outbox keeps once)."""
    if not hooks:
        return 0
    going = store.alerts_in_batch(batch)
    wanted = {user: [(p, f) for p, f in pairs if (user, keys[p.arxiv_id]) in going] for user, pairs in matched.items()}
    readers = store.user_names([user for user, pairs in wanted.items() if pairs])
    mails = [
        OutgoingMail(0, batch, hooks[user].url, uuid.uuid4().hex, payload(readers.get(user, ""), pairs, base_url),
                     channel="webhook", webhook_id=hooks[user].id)
        for user, pairs in wanted.items() if pairs and user in hooks
    ]  # fmt: skip
    return store.enqueue(mails, now) if mails else 0
