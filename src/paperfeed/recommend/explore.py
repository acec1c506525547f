"""Exploration for digests: one slot of an edition goes to a paper from a topic the reader has not rated, the
topic chosen by Thompson sampling over the reader's Beta posteriors (one per topic: how often a paper of it that
we tried was marked relevant), so topics that turned out well are tried again and the rest fade.

Topics are arXiv categories in a live instance (the paper's primary category); bench/digest_quality.py uses
k-means clusters of the MiniLM vectors, the "concepts" of the collective model. Pure functions; the counts come
from the reader's feedback on the papers that were mailed as "something new" (paperfeed.store).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T", bound=Hashable)

PRIOR = (1.0, 1.0)  # Beta(1, 1): every untried topic is a coin of unknown bias


@dataclass
class Posterior(Generic[T]):
    """Per-topic counts of relevant and not-relevant judgements on explored papers."""

    relevant: dict[T, int] = field(default_factory=dict)
    not_relevant: dict[T, int] = field(default_factory=dict)

    def update(self, topic: T, relevant: bool) -> None:
        counts = self.relevant if relevant else self.not_relevant
        counts[topic] = counts.get(topic, 0) + 1

    @classmethod
    def of(cls, judgements: Iterable[tuple[T, bool]]) -> Posterior[T]:
        posterior: Posterior[T] = cls()
        for topic, relevant in judgements:
            posterior.update(topic, relevant)
        return posterior

    def mean(self, topic: T) -> float:
        a = PRIOR[0] + self.relevant.get(topic, 0)
        return a / (a + PRIOR[1] + self.not_relevant.get(topic, 0))


def pick_topic(posterior: Posterior[T], topics: Iterable[T], rng: np.random.Generator) -> T | None:
    """Thompson sampling: one draw from each candidate topic's Beta posterior, the largest wins (None when there
    is no candidate topic). Candidates are visited in sorted order so that a seeded ``rng`` repeats."""
    candidates = sorted(set(topics), key=repr)
    if not candidates:
        return None
    a = np.array([PRIOR[0] + posterior.relevant.get(t, 0) for t in candidates])
    b = np.array([PRIOR[1] + posterior.not_relevant.get(t, 0) for t in candidates])
    return candidates[int(np.argmax(rng.beta(a, b)))]


def summary(posterior: Posterior[T], names: Mapping[T, str] | None = None) -> list[tuple[str, int, int]]:
    """(topic, relevant, not relevant) for every judged topic, the most judged first."""
    topics = set(posterior.relevant) | set(posterior.not_relevant)
    rows = [(str((names or {}).get(t, t)), posterior.relevant.get(t, 0), posterior.not_relevant.get(t, 0))
            for t in topics]  # fmt: skip
    return sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0]))
