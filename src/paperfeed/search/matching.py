"""Which new papers match which follows. Pure: papers and follows in, matches out.

- an author follow matches a paper with an author of the same key (paperfeed.models.author_key);
- a category follow matches a paper in that category, or, for an archive (``math``), in any of its categories;
- a saved search matches a paper that has every word of the query (title, abstract or authors; a plural's
  ``s`` aside), every quoted phrase, every ``ti:`` word in its title, an author for each ``au:``, a category for
  each ``cat:``, a feed date within ``since:`` / ``until:``, and none of the ``-excluded`` words or phrases.

A batch is indexed once (word -> papers), so each saved search costs a few set intersections, however many
readers there are.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from paperfeed.models import Follow, Paper, author_key
from paperfeed.search.query import ParsedQuery, parse_query

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _norm(token: str) -> str:
    token = token.casefold()
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


def words(text: str) -> list[str]:
    return [_norm(t) for t in _TOKEN.findall(text)]


def _flat(text: str) -> str:
    return " " + " ".join(words(text)) + " "


@dataclass
class _Batch:
    papers: Sequence[Paper]
    text: list[str] = field(default_factory=list)  # " word word ... " per paper, for phrases
    titles: list[set[str]] = field(default_factory=list)
    authors: list[set[str]] = field(default_factory=list)  # author keys
    author_words: list[set[str]] = field(default_factory=list)
    index: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, papers: Sequence[Paper]) -> _Batch:
        batch = cls(papers)
        for i, p in enumerate(papers):
            names = " ".join(a.name for a in p.authors)
            batch.text.append(_flat(f"{p.title} {p.abstract} {names}"))
            batch.titles.append(set(words(p.title)))
            batch.authors.append({author_key(a.name) for a in p.authors})
            batch.author_words.append(set(words(names)))
            for w in set(batch.text[-1].split()):
                batch.index[w].add(i)
        return batch


def _in_category(categories: Iterable[str], wanted: str) -> bool:
    return any(c == wanted or ("." not in wanted and c.startswith(wanted + ".")) for c in categories)


def _query_matches(batch: _Batch, q: ParsedQuery) -> set[int]:
    required = [w for part in (q.words, q.title) for text in part for w in words(text)]
    candidates: set[int] | None = None
    for w in required:
        found = batch.index.get(w, set())
        candidates = found if candidates is None else candidates & found
        if not candidates:
            return set()
    pool = candidates if candidates is not None else set(range(len(batch.papers)))
    phrases = [_flat(p) for p in q.phrases]
    excluded = [_flat(x) for x in q.excluded]
    title_words = [w for t in q.title for w in words(t)]
    return {i for i in pool if _keeps(batch, i, q, phrases, excluded, title_words)}


def _keeps(batch: _Batch, i: int, q: ParsedQuery, phrases: list[str], excluded: list[str],
           title_words: list[str]) -> bool:  # fmt: skip
    paper, text = batch.papers[i], batch.text[i]
    if any(p not in text for p in phrases) or any(x in text for x in excluded if x.strip()):
        return False
    if any(w not in batch.titles[i] for w in title_words):
        return False
    if any(not set(words(a)) <= batch.author_words[i] for a in q.authors):
        return False
    if any(not _in_category(paper.categories, c) for c in q.categories):
        return False
    day = paper.feed_date
    return not ((q.since and (day is None or day < q.since)) or (q.until and (day is None or day > q.until)))


def match(papers: Sequence[Paper], follows: Sequence[Follow]) -> dict[int, list[tuple[Paper, Follow]]]:
    """For each reader (user id) with any match, the (paper, follow) pairs, each paper once per reader (its
    first matching follow), in the papers' order."""
    batch = _Batch.of(papers)
    by_author: dict[str, list[int]] = defaultdict(list)
    by_category: dict[str, set[int]] = defaultdict(set)  # a category and its archive
    for i, keys in enumerate(batch.authors):
        for key in keys:
            by_author[key].append(i)
        for c in papers[i].categories:
            by_category[c].add(i)
            by_category[c.split(".", 1)[0]].add(i)
    queries: dict[str, set[int]] = {}
    found: dict[int, dict[int, Follow]] = defaultdict(dict)
    for f in follows:
        if f.kind == "author":
            hits: Iterable[int] = by_author.get(f.key, ())
        elif f.kind == "category":
            hits = by_category.get(f.key, ())
        else:
            if f.key not in queries:
                queries[f.key] = _query_matches(batch, parse_query(f.value))
            hits = queries[f.key]
        for i in hits:
            found[f.user_id].setdefault(i, f)
    return {user: [(papers[i], f) for i, f in sorted(hits.items())] for user, hits in found.items()}
