"""The "for you" signal that needs no vectors: the reader's own words and categories, over the keyword index.

From the first upvote, before a single vector exists (a new instance embeds for minutes to hours), a reader's
liked papers and interests text give a term profile (their words weighted by how many of the reader's papers
have them, title words twice, and by how rare each is in the whole store: tf-idf with the keyword index's
document frequencies) and a category profile (the share of their papers in each category). A candidate's score
is its BM25 score for the profile's terms (tantivy's "more like this", restricted to the candidates),
standardised, plus the share of the reader's papers in the candidate's categories.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from paperfeed.models import Paper
from paperfeed.search.keyphrases import stop_words
from paperfeed.search.keyword_shards import KeywordSearch
from paperfeed.search.query import ParsedQuery

TERMS = 24  # profile words sent to BM25
CATEGORIES = 3  # the reader's categories that count
CATEGORY_WEIGHT = 2.0  # a candidate in the category of all the reader's papers gains 2 standard deviations
_WORD = re.compile(r"[a-z][a-z0-9-]{2,}")
_CATEGORY = re.compile(r"\bcat:([A-Za-z][\w.-]*)")  # categories a reader picked: "cat:cs.CV cat:hep-th"
# scikit-learn's English stop words, and the boilerplate every abstract has: they say nothing about topics
BOILERPLATE = ("paper", "papers", "propose", "proposed", "proposes", "show", "shows", "using", "use", "used", "based",
               "approach", "approaches", "method", "methods", "results", "result", "study", "work", "existing",
               "novel", "task", "tasks", "model", "models", "problem", "problems", "performance", "data",
               "state-of-the-art", "demonstrate", "present", "provide", "experiments", "new", "via")  # fmt: skip


@cache
def _stop() -> frozenset[str]:
    return stop_words() | frozenset(BOILERPLATE)


@dataclass(frozen=True, slots=True)
class LexicalProfile:
    """What a reader's papers and interests say without vectors."""

    terms: list[str] = field(default_factory=list)
    categories: dict[str, float] = field(default_factory=dict)  # share of the liked papers in each category

    @property
    def empty(self) -> bool:
        return not self.terms and not self.categories


def profile(keyword: KeywordSearch, liked: Sequence[Paper], interests: str) -> LexicalProfile:
    """The profile of a reader who liked ``liked`` and wrote ``interests``."""
    counts: Counter[str] = Counter()
    for paper in liked:
        counts.update(set(_words(paper.abstract)))  # in how many of the reader's papers
        for word in set(_words(paper.title)):
            counts[word] += 2  # a title word says more than an abstract word
    picked = _CATEGORY.findall(interests)
    interests = _CATEGORY.sub(" ", interests)
    for word in set(_words(interests)):
        counts[word] += max(2, len(liked))  # the reader's own words count as much as all their papers
    papers = max(keyword.size(), 1)
    df = keyword.document_frequency(list(counts))
    weight = {w: n * math.log((1 + papers) / (1 + df.get(w, 0))) for w, n in counts.items()}
    terms = [w for w in sorted(weight, key=lambda w: (-weight[w], w)) if weight[w] > 0][:TERMS]
    shares: dict[str, float] = {}
    for paper in liked:  # a paper's primary category counts fully, its cross-lists half
        for n, cat in enumerate(dict.fromkeys(paper.categories)):
            shares[cat] = shares.get(cat, 0.0) + (1.0 if n == 0 else 0.5)
    portion = {cat: n / len(liked) for cat, n in shares.items()} if liked else {}
    for cat in picked:  # categories the reader picked (kept beside their interests, in the search syntax)
        portion[cat] = 1.0
    top = sorted(portion.items(), key=lambda item: (-item[1], item[0]))[:CATEGORIES]
    return LexicalProfile(terms, dict(top))


def scores(keyword: KeywordSearch, prof: LexicalProfile, keys: Sequence[int]) -> np.ndarray | None:
    """One row of scores for ``keys`` (None for an empty profile)."""
    if prof.empty or not keys:
        return None
    bm25: dict[int, float] = {}
    if prof.terms:
        bm25 = dict(
            keyword.search(ParsedQuery(words=prof.terms, parts=prof.terms), len(keys), within=keys, count=False)[0]
        )
    raw = np.array([bm25.get(k, 0.0) for k in keys], dtype=np.float32)
    spread = float(raw.std())
    out = (raw - float(raw.mean())) / spread if spread > 0 else np.zeros(len(keys), dtype=np.float32)
    for cat, share in prof.categories.items():
        inside = set(keyword.matching_keys(ParsedQuery(categories=[cat.lower()]), len(keys), within=keys))
        out += np.array([CATEGORY_WEIGHT * share if k in inside else 0.0 for k in keys], dtype=np.float32)
    return out[None, :]


def candidates(keyword: KeywordSearch, prof: LexicalProfile, limit: int) -> list[int]:
    """The papers that best match the profile's terms, from the whole store (for the "all papers" window)."""
    if not prof.terms:
        top = list(prof.categories)[:1]
        return keyword.matching_keys(ParsedQuery(categories=[c.lower() for c in top]), limit) if top else []
    return [key for key, _ in keyword.search(ParsedQuery(words=prof.terms, parts=prof.terms), limit, count=False)[0]]


def why(paper: Paper, prof: LexicalProfile) -> str | None:
    """In words, what ties ``paper`` to the profile; None when nothing does."""
    present = set(_words(f"{paper.title} {paper.abstract}"))
    shared = [term for term in prof.terms if term in present][:3]
    if len(shared) >= 2:
        return "shares " + ", ".join(f"“{term}”" for term in shared) + " with papers you liked"
    mine = [cat for cat in paper.categories if cat in prof.categories]
    if mine:
        return (
            f"in {mine[0]}, as most papers you liked are"
            if prof.categories[mine[0]] >= 0.5
            else f"in {mine[0]}, as some papers you liked are"
        )
    if shared:
        return f"mentions “{shared[0]}”, as papers you liked do"
    return None


def without_categories(text: str) -> str:
    """A reader's interests without the ``cat:`` categories they picked (what is embedded and quoted)."""
    return " ".join(_CATEGORY.sub(" ", text).split())


def _words(text: str) -> list[str]:
    stop = _stop()
    return [w for w in _WORD.findall(text.lower()) if w not in stop]
