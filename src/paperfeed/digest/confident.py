"""What goes into a "for you" mail: a fixed number of the reader's best picks, or, for a subscription that chose
"only what you are confident about", the set that conformal selection picks at the reader's target level; plus
the two marked extras (see docs/digests.md for what is promised and under which assumption):

- **a random pick** (conformal mails only): one of the edition's candidates drawn uniformly at random. Its
  judgement is a calibration label exchangeable with the next editions' candidates, which is what the guarantee
  needs; the judged confident picks are not used, as their labels lean toward high scores.
- **something new** (when exploration is on): a paper from a category the reader has not rated, the category
  drawn by Thompson sampling over the reader's judgements of earlier "something new" papers.

Calibration uses the reader's own judged random picks of the last CALIBRATION_DAYS days; while they are fewer
than WARM, those of every confirmed "for you" subscription with the same frequency are added, which assumes those
readers are alike (their scores are z-scored per reader, which helps, but it is an assumption).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from paperfeed.models import Paper, Subscription
from paperfeed.recommend.conformal import choose_model, pvalues, select
from paperfeed.recommend.explore import Posterior, pick_topic
from paperfeed.recommend.serve import Scored
from paperfeed.store import Store
from paperfeed.store.digest_slots import Labelled, Slot

CALIBRATION_DAYS = 180
WARM = 30  # a reader's own judged random picks before other readers' are left out
MIN_CALIBRATION = 30  # judged random picks (the reader's and others') before anything is picked with a promise
POOLED = 5000  # other readers' judged random picks, at most
MODELS = ("blend", "content")  # the variants OptCS chooses between (paperfeed.recommend.serve.ForYou.scored)


@dataclass(frozen=True, slots=True)
class Plan:
    """One reader's mail: the picks, the marked extras, and how the picks were chosen."""

    picks: list[Paper]
    probe: Paper | None = None
    explore: Paper | None = None
    explore_topic: str | None = None
    level: float | None = None  # the target false-discovery rate, None for a fixed number
    model: str | None = None
    calibration: int = 0  # judged random picks the p-values were computed against
    pooled: bool = False  # other readers' judged picks were among them
    slots: list[Slot] = field(default_factory=list)


class Pools:
    """Every reader's judged random picks per frequency, read once for an edition run (not once per reader)."""

    def __init__(self, store: Store, now: datetime) -> None:
        self.store, self.since = store, now - timedelta(days=CALIBRATION_DAYS)
        self._by_frequency: dict[str, list[Labelled]] = {}

    def of(self, frequency: str) -> list[Labelled]:
        if frequency not in self._by_frequency:
            found = self.store.labelled_slots("probe", self.since, frequency=frequency, limit=POOLED)
            self._by_frequency[frequency] = found
        return self._by_frequency[frequency]


def plan(
    store: Store, sub: Subscription, scored: Sequence[Scored], now: datetime, rng: np.random.Generator,
    pools: Pools | None = None,
) -> Plan:  # fmt: skip
    """The mail of ``sub`` from its candidates ``scored`` (best first, the subscription's filters applied);
    ``pools`` shares other readers' judged picks between the readers of one run."""
    if sub.confidence is None:
        picks = [s.paper for s in scored[: sub.max_papers]]
        out = Plan(picks, slots=[Slot(p.arxiv_id, "confident", _scores(scored, p)) for p in picks])
    else:
        out = _conformal(store, sub, scored, now, rng, pools or Pools(store, now))
    return _with_exploration(store, sub, scored, out, now, rng) if sub.explore else out


def _scores(scored: Sequence[Scored], paper: Paper) -> dict[str, float]:
    return next(s.scores for s in scored if s.paper.arxiv_id == paper.arxiv_id)


def _conformal(store: Store, sub: Subscription, scored: Sequence[Scored], now: datetime,
               rng: np.random.Generator, pools: Pools) -> Plan:  # fmt: skip
    level = float(sub.confidence or 0.2)
    if not scored:
        return Plan([], level=level)
    since = now - timedelta(days=CALIBRATION_DAYS)
    calib: list[Labelled] = store.labelled_slots("probe", since, subscription_id=sub.id)
    pooled = len(calib) < WARM
    if pooled:
        calib = calib + [c for c in pools.of(sub.frequency) if c.subscription_id != sub.id]
    models = [m for m in MODELS if all(m in s.scores for s in scored) and all(m in c.scores for c in calib)]
    picks: list[Paper] = []
    model = None
    if models and len(calib) >= MIN_CALIBRATION:
        cs = np.array([[c.scores[m] for c in calib] for m in models], dtype=np.float64).reshape(len(models), -1)
        cr = np.array([c.relevant for c in calib], dtype=bool)
        ts = np.array([[s.scores[m] for s in scored] for m in models], dtype=np.float64)
        k = choose_model(cs, cr, ts)
        model = models[k]
        # randomised p-values (exact, as in bench/digest_quality.py): with conservative ones a reader's first few
        # dozen labels could never clear the bar among 200 candidates
        chosen = select(pvalues(cs[k], cr, ts[k], rng), level, sub.max_papers)
        picks = [scored[i].paper for i in sorted(chosen)]
    probe_at = int(rng.integers(len(scored)))  # uniformly over the candidates, whether or not it was picked
    probe = scored[probe_at].paper
    slots = [Slot(p.arxiv_id, "confident", _scores(scored, p)) for p in picks if p.arxiv_id != probe.arxiv_id]
    slots.append(Slot(probe.arxiv_id, "probe", scored[probe_at].scores))
    shown_probe = None if any(p.arxiv_id == probe.arxiv_id for p in picks) else probe
    return Plan(picks, shown_probe, level=level, model=model, calibration=len(calib), pooled=pooled, slots=slots)


def _with_exploration(store: Store, sub: Subscription, scored: Sequence[Scored], out: Plan, now: datetime,
                      rng: np.random.Generator) -> Plan:  # fmt: skip
    """``out`` with one "something new" paper from a category the reader has not rated, when there is one."""
    taken = {p.arxiv_id for p in out.picks} | ({out.probe.arxiv_id} if out.probe else set())
    rated = _rated_topics(store, sub, now)
    rest = [s.paper for s in scored if s.paper.arxiv_id not in taken and _topic(s.paper) not in rated]
    if not rest:
        return out
    since = now - timedelta(days=CALIBRATION_DAYS)
    judged = store.labelled_slots("explore", since, subscription_id=sub.id)
    posterior = Posterior.of((c.topic, c.relevant) for c in judged if c.topic)
    topic = pick_topic(posterior, {t for p in rest if (t := _topic(p))}, rng)
    paper = next((p for p in rest if _topic(p) == topic), None)
    if paper is None or topic is None:
        return out
    slot = Slot(paper.arxiv_id, "explore", _scores(scored, paper), topic)
    return Plan(out.picks, out.probe, paper, topic, out.level, out.model, out.calibration, out.pooled,
                [*out.slots, slot])  # fmt: skip


def _topic(paper: Paper) -> str | None:
    return paper.categories[0] if paper.categories else None


def _rated_topics(store: Store, sub: Subscription, now: datetime) -> set[str]:
    """The categories the reader has rated: of the papers they liked or dismissed, and of their mail judgements
    outside "something new" (those feed the posterior instead)."""
    rated: set[str] = set()
    if sub.user_id is not None:
        signals = store.signals(sub.user_id)
        mine = store.papers_by_key([*signals.liked[:200], *signals.dismissed[:200]])
        rated |= {t for p in mine.values() if (t := _topic(p))}
    since = now - timedelta(days=CALIBRATION_DAYS)
    explored = {c.topic for c in store.labelled_slots("explore", since, subscription_id=sub.id)}
    rated |= {c for c, _, _ in store.feedback_by_topic(sub.id, limit=200) if c not in explored}
    return rated


def explanation(p: Plan) -> str:
    """How the picks were chosen, for the mail."""
    if p.level is None:
        return ""
    percent = f"{p.level:.0%}"
    basis = f"{p.calibration} judged random pick{'s' if p.calibration != 1 else ''}"
    basis += " (yours and other readers', until you have judged 30)" if p.pooled else " of yours"
    if p.calibration < MIN_CALIBRATION:
        return (f"Still learning what you like: {basis} so far, and we promise nothing before "
                f"{MIN_CALIBRATION}. Judging the random pick below is what gets you there.")  # fmt: skip
    if not p.picks:
        return (f"Nothing today cleared your bar of at most {percent} not for you, measured against {basis}. "
                "Judging the random pick below is what sharpens the next ones.")  # fmt: skip
    return (f"Chosen so that, on average, at most {percent} of what we pick is not for you (conformal selection "
            f"against {basis}, by the {p.model} model); how many varies with how sure we are.")  # fmt: skip
