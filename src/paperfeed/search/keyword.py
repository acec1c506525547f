"""Keyword search: a tantivy (BM25) index over title, authors and abstract, kept in step with the store.

Why tantivy and not SQLite FTS5: docs/decisions.md (top-20 in about 1 ms against 144 ms over 120k papers).
The index lives in its own folder and follows the store's change feed: :meth:`KeywordIndex.sync` adds or
replaces every paper written since the position saved in ``position.json``. Replacing is idempotent (delete
by key, then add), so a crash between tantivy's commit and the position file only repeats some work.
"""

from __future__ import annotations

import json
import math
import os
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from paperfeed.errors import StoreError
from paperfeed.search.instance import instance_id
from paperfeed.search.query import ParsedQuery
from paperfeed.store import Store
from paperfeed.store.base import IndexDoc

# Field weights. BM25 runs over "text" (title + abstract, without stop words, so that document lengths count
# words that rank) as one field, plus a bonus for words in the title ("heading", left empty for a paper with no
# abstract, whose text is its title already) and a field for author names. Scoring title and abstract as separate
# fields double-counts short titles. Chosen by cross-validation over SciFact train and CACM together
# (bench/search_quality.py --tune; docs/decisions.md "Search that holds on a collection it was not tuned on").
TITLE_BOOST = 0.3
AUTHORS_BOOST = 1.0
SCHEMA_VERSION = 4  # bump to rebuild every index on upgrade
SYNC_PAGE = 5_000
FREQUENCIES_KEPT = 200_000  # words whose document frequency is remembered (about 20 MB)
COMMIT_EVERY = 50_000
SNIPPET_CHARS = 240
QUERY_TF_POWER = 1.0  # a word the query repeats n times weighs n ** this (1: BM25's query term frequency)
MAX_TERMS = 256  # distinct ranking words of one query (the most frequent)
# A word in more than COMMON_SHARE of the papers ranks only when the query has nothing else: its idf is below
# ln 2 against 4.6 for a word in 1% of papers, so it hardly moves a ranking, yet its postings are the longest to
# walk (bench/keyword_scale.py, 2.7M papers: keyword mode p99 41.6 -> 25.0 ms; SciFact and CACM unchanged: no query
# word is that common there). Small indexes are fast anyway and keep every word: COMMON_FROM papers at least.
COMMON_SHARE = 0.5
COMMON_FROM = 1_000
# Keyword mode shows how many papers match. Counting visits every matching posting, which tantivy's block-max
# WAND otherwise skips (2.7M papers: keyword mode p99 32.2 ms counted against 25.0), so a query whose words have
# more postings than this is searched uncounted and its total estimated from the words' document frequencies.
EXACT_COUNT_POSTINGS = 100_000
Hit = tuple[int, float]  # (paper key, score)


@dataclass(frozen=True, slots=True)
class Total:
    """How many papers match a query: exactly, or estimated (``exact`` False) where counting would be slow."""

    value: int
    exact: bool = True


@dataclass(frozen=True)
class Snippet:
    """A piece of text and the character ranges in it that matched the query."""

    text: str
    marks: tuple[tuple[int, int], ...] = ()


def _analyzer(*, stem: bool, stop: bool) -> Any:
    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    builder = builder.filter(tantivy.Filter.remove_long(40)).filter(tantivy.Filter.lowercase())
    builder = builder.filter(tantivy.Filter.ascii_fold())
    if stop:
        builder = builder.filter(tantivy.Filter.stopword("english"))
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


def _schema() -> Any:
    b = tantivy.SchemaBuilder()
    b.add_integer_field("key", stored=True, indexed=True, fast=True)
    b.add_text_field("title", stored=True, tokenizer_name="paper")
    b.add_text_field("authors", stored=False, tokenizer_name="names")
    b.add_text_field("abstract", stored=True, tokenizer_name="paper")
    b.add_text_field("text", stored=False, tokenizer_name="ranked")  # title + abstract, BM25's main field
    b.add_text_field("heading", stored=False, tokenizer_name="ranked")  # the title bonus (see TITLE_BOOST)
    b.add_text_field("cat", stored=False, tokenizer_name="raw")
    b.add_integer_field("day", stored=False, indexed=True, fast=True)
    return b.build()


def _worded(terms: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The terms longer than one character, or all of them when there are no such."""
    return [t for t in terms if len(t[0]) > 1] or terms


def _boosted(query: Any, boost: float) -> Any:
    return query if boost == 1 else tantivy.Query.boost_query(query, boost)


class KeywordIndex:
    """One tantivy index folder. Searches are thread-safe; syncs are serialised (and skipped when another
    process holds the index's writer lock: that process is indexing the same changes)."""

    def __init__(self, folder: Path, part: tuple[int, int] = (0, 1)) -> None:
        """The index in ``folder``; with ``part`` (i, n), only of the papers whose key is i modulo n (one shard of
        paperfeed.search.keyword_shards.ShardedKeywordIndex: a paper's key never changes, nor does its shard)."""
        self.folder, self.part = folder, part
        self._lock = threading.Lock()
        self.schema = _schema()
        self.index = self._open()
        self._synced_seq = -1  # store seq known to be indexed (-1: not checked yet)
        self._frequencies: dict[str, int] = {}  # word -> document frequency, until the next sync writes
        self._paper = _analyzer(stem=True, stop=False)  # index side: phrases keep their stop words
        self._paper_query = _analyzer(stem=True, stop=True)  # ranking words drop them
        self._names = _analyzer(stem=False, stop=False)
        self._names_query = _analyzer(stem=False, stop=True)  # "of", "the" in a sentence are not names
        for name, analyzer in (("paper", self._paper), ("ranked", self._paper_query), ("names", self._names)):
            self.index.register_tokenizer(name, analyzer)

    def _open(self) -> Any:
        meta = self._position()
        if meta.get("schema") != SCHEMA_VERSION or meta.get("part", [0, 1]) != list(self.part):
            self._reset()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            return tantivy.Index(self.schema, path=str(self.folder), reuse=True)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot open the keyword index in {self.folder}: {exc}") from exc

    def _reset(self) -> None:
        if self.folder.is_dir():
            for child in self.folder.iterdir():
                if child.is_file():
                    child.unlink()

    # -- keeping in step with the store -----------------------------------------------------------------

    def _position(self) -> dict[str, Any]:
        try:
            value = json.loads((self.folder / "position.json").read_text())
            return value if isinstance(value, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_position(self, value: dict[str, Any]) -> None:
        tmp = self.folder / f"position.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(value))
        os.replace(tmp, self.folder / "position.json")

    def pending(self, store: Store) -> bool:
        """Whether the store has writes this index has not taken yet (one indexed SQL query when current)."""
        if store.change_seq() <= self._synced_seq:
            return False
        meta = self._position()  # another process may have indexed them
        if meta.get("instance") == instance_id(store):
            self._synced_seq = int(meta.get("after", [0, 0])[0])
        return store.change_seq() > self._synced_seq or meta.get("instance") != instance_id(store)

    def sync(self, store: Store) -> int:
        """Index every paper written since the last sync; return how many were (re)indexed."""
        with self._lock:
            meta = self._position()
            instance = instance_id(store)
            if meta.get("instance") != instance:  # a different database: start over
                meta = {"schema": SCHEMA_VERSION, "instance": instance, "after": [0, 0], "part": list(self.part)}
                fresh = True
            else:
                fresh = False
            after = (int(meta["after"][0]), int(meta["after"][1]))
            docs = store.changed_papers(after, SYNC_PAGE)
            if not docs and not fresh:
                self._synced_seq = after[0]
                return 0
            try:
                # a first build (a whole import) indexes on two threads: 120k papers in 10.6 s instead of 18.9 s
                threads = 2 if fresh and (os.cpu_count() or 1) > 1 else 1
                writer = self.index.writer(heap_size=96_000_000 * threads, num_threads=threads)
            except ValueError:  # LockBusy: another process is indexing these same rows right now
                self.index.reload()
                return 0
            done = read = 0
            if fresh:
                writer.delete_all_documents()
            shard, shards = self.part
            while docs:
                for doc in docs:
                    if doc.key % shards != shard:  # another shard's paper
                        continue
                    if not fresh:
                        writer.delete_documents_by_term("key", doc.key)
                    writer.add_document(self._document(doc))
                    done += 1
                read += len(docs)
                after = (docs[-1].seq, docs[-1].key)
                docs = store.changed_papers(after, SYNC_PAGE)
                if read % COMMIT_EVERY < SYNC_PAGE or not docs:  # a killed sync resumes from here
                    writer.commit()
                    self._save_position({"schema": SCHEMA_VERSION, "instance": instance, "after": list(after),
                                         "part": list(self.part)})  # fmt: skip
            writer.wait_merging_threads()
            self.index.reload()
            self._frequencies = {}
            self._synced_seq = after[0]
            return done

    def _document(self, doc: IndexDoc) -> Any:
        cats = [c.lower() for c in doc.categories]
        archives = {c.split(".", 1)[0] for c in cats if "." in c}
        fields: dict[str, Any] = {
            "key": doc.key,
            "title": doc.title,
            "authors": doc.authors,
            "abstract": doc.abstract,
            "text": f"{doc.title}\n{doc.abstract}",
            "heading": doc.title if doc.abstract.strip() else "",
            "cat": [*cats, *sorted(archives - set(cats))],
        }
        if doc.feed_date is not None:
            fields["day"] = doc.feed_date.toordinal()
        return tantivy.Document(**fields)

    # -- queries ----------------------------------------------------------------------------------------

    def _terms(self, analyzer: Any, text: str) -> list[str]:
        return list(dict.fromkeys(analyzer.analyze(text)))

    def _match(self, text: str) -> Any | None:
        """Papers containing ``text`` (a word or a phrase) in title, authors or abstract, or None."""
        clauses = []
        for name, analyzer in (("title", self._paper), ("abstract", self._paper), ("authors", self._names)):
            clause = self._field_match(name, analyzer.analyze(text))
            if clause is not None:
                clauses.append((tantivy.Occur.Should, clause))
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _field_match(self, name: str, tokens: Sequence[str]) -> Any | None:
        if not tokens:
            return None
        if len(tokens) == 1:
            return tantivy.Query.term_query(self.schema, name, tokens[0])
        return tantivy.Query.phrase_query(self.schema, name, list(tokens))

    def _ranked(self, q: ParsedQuery, searcher: Any) -> list[tuple[tuple[str, str], Any]]:
        """The BM25 part, as ((field, term), clause) pairs: free words (and phrases, which also score) over the
        weighted fields. A word that occurs several times in the query counts that many times (BM25's query term
        frequency); single letters and digits, and words in more than COMMON_SHARE of the papers, rank only when
        the query has nothing else (initials, "(a)", list numbers; "model" in a corpus of models)."""
        words = " ".join([*q.words, *q.phrases, *q.title])
        out = []
        for term, count in self._uncommon(_worded(self._counted(self._paper_query, words)), searcher):
            out.append((("heading", term), _boosted(tantivy.Query.term_query(self.schema, "heading", term),
                                                    TITLE_BOOST * count)))  # fmt: skip
            out.append((("text", term), _boosted(tantivy.Query.term_query(self.schema, "text", term), count)))
        for term, count in self._counted(self._names_query, " ".join(q.words)):
            if len(term) > 1:  # an initial matches too many names to say anything
                clause = _boosted(tantivy.Query.term_query(self.schema, "authors", term), AUTHORS_BOOST * count)
                out.append((("authors", term), clause))
        return out

    @staticmethod
    def _uncommon(terms: list[tuple[str, float]], searcher: Any) -> list[tuple[str, float]]:
        """``terms`` less those in more than COMMON_SHARE of the papers, or all of them when none is left."""
        papers = int(searcher.num_docs)
        if papers < COMMON_FROM:
            return terms
        return [t for t in terms if searcher.doc_freq("text", t[0]) <= COMMON_SHARE * papers] or terms

    def _counted(self, analyzer: Any, text: str) -> list[tuple[str, float]]:
        return [(t, n**QUERY_TF_POWER) for t, n in Counter(analyzer.analyze(text)).most_common(MAX_TERMS)]

    def constraints(self, q: ParsedQuery) -> list[Any]:
        """Must / must-not clauses: phrases, exclusions, authors, title words, categories, dates."""
        must, must_not = tantivy.Occur.Must, tantivy.Occur.MustNot
        out: list[Any] = []
        for phrase in q.phrases:
            out.extend([(must, m)] if (m := self._match(phrase)) is not None else [])
        for text in q.excluded:
            out.extend([(must_not, m)] if (m := self._match(text)) is not None else [])
        for name in q.authors:
            out.extend([(must, m)] if (m := self._field_match("authors", self._names.analyze(name))) else [])
        for word in q.title:
            out.extend([(must, m)] if (m := self._field_match("title", self._paper.analyze(word))) else [])
        for cat in q.categories:
            out.append((must, tantivy.Query.term_query(self.schema, "cat", cat.lower())))
        low, high = q.since, q.until
        if low or high:
            bounds = (low.toordinal() if low else None, high.toordinal() if high else None)
            out.append((must, tantivy.Query.range_query(self.schema, "day", tantivy.FieldType.Integer, *bounds)))
        return out

    def search(
        self,
        q: ParsedQuery,
        limit: int,
        *,
        within: Sequence[int] | None = None,
        count: bool = True,
    ) -> tuple[list[Hit], int]:
        """The ``limit`` best papers for ``q`` and (``count``) how many match in all, else 0. ``within``
        restricts to those keys. A query with no ranking words returns its matches newest first (all scored 0).

        Counting visits every matching paper, and so does a query wrapped with constraints; a ranking alone and
        not counted is searched as it is, so tantivy's block-max WAND skips the postings that cannot reach the top
        (over 2.7M papers: top 100 in p50 10.9 / p99 29.4 ms against 15.5 / 43.6 counted; docs/decisions.md)."""
        searcher, clauses = self.index.searcher(), self.constraints(q)
        if within is not None:
            keys = tantivy.Query.term_set_query(self.schema, "key", list(within))
            clauses.append((tantivy.Occur.Must, keys))
        return self._search(searcher, self._ranked(q, searcher), clauses, limit, count)

    def _search(
        self, searcher: Any, ranked: list[tuple[tuple[str, str], Any]], clauses: list[Any], limit: int, count: bool
    ) -> tuple[list[Hit], int]:
        """:meth:`search` with its ranking (:meth:`_ranked`) and its must / must-not clauses already made."""
        ranking = tantivy.Query.boolean_query([(tantivy.Occur.Should, c) for _, c in ranked]) if ranked else None
        if ranking is None and not clauses:
            return [], 0
        if ranking is not None and not clauses and not count:
            result = searcher.search(ranking, limit, count=False)
        elif ranking is not None:
            query = tantivy.Query.boolean_query([*clauses, (tantivy.Occur.Must, ranking)])
            result = searcher.search(query, limit, count=count)
        else:
            if not any(occur == tantivy.Occur.Must for occur, _ in clauses):
                clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
            query = tantivy.Query.boolean_query(clauses)
            result = searcher.search(query, limit, count=count, order_by_field="day", order=tantivy.Order.Desc)
        addresses = [address for _, address in result.hits]
        keys_found = searcher.fast_field_values("key", addresses) if addresses else []
        scores = [float(score) if ranking is not None else 0.0 for score, _ in result.hits]
        return list(zip((int(k) for k in keys_found), scores, strict=True)), int(result.count or 0)

    def search_with_total(self, q: ParsedQuery, limit: int) -> tuple[list[Hit], Total]:
        """The ``limit`` best papers for ``q`` and how many match in all: counted exactly where that is cheap
        (constraints, or at most EXACT_COUNT_POSTINGS postings to visit), else estimated from the ranking words'
        document frequencies as if they occurred independently (see :func:`about`)."""
        searcher, clauses = self.index.searcher(), self.constraints(q)
        ranked = self._ranked(q, searcher)
        # a title word is in "text" too: the heading's postings add no paper
        frequencies = [int(searcher.doc_freq(field, term)) for (field, term), _ in ranked if field != "heading"]
        if frequencies and sum(frequencies) > EXACT_COUNT_POSTINGS and not clauses:
            papers = max(int(searcher.num_docs), 1)
            missed = 1.0
            for frequency in frequencies:
                missed *= 1 - min(frequency, papers) / papers
            hits = self._search(searcher, ranked, clauses, limit, count=False)[0]
            return hits, Total(about(papers * (1 - missed), papers), exact=False)
        hits, total = self._search(searcher, ranked, clauses, limit, count=True)
        return hits, Total(total)

    def _filter(self, q: ParsedQuery, within: Sequence[int] | None = None) -> Any:
        clauses = self.constraints(q)
        if within is not None:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_set_query(self.schema, "key", list(within))))
        if not any(occur == tantivy.Occur.Must for occur, _ in clauses):
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses)

    def matching_keys(self, q: ParsedQuery, limit: int, within: Sequence[int] | None = None) -> list[int]:
        """Keys of papers meeting ``q``'s constraints (its ranking words aside), newest first, at most ``limit``;
        only among ``within`` when given."""
        searcher, addresses = self._newest(q, limit, within)
        return [int(k) for k in searcher.fast_field_values("key", addresses)] if addresses else []

    def matching_days(self, q: ParsedQuery, limit: int, within: Sequence[int] | None = None) -> list[tuple[int, int]]:
        """As :meth:`matching_keys`, with each paper's day (an ordinal; 0 for none): (key, day) pairs."""
        searcher, addresses = self._newest(q, limit, within)
        if not addresses:
            return []
        keys, days = searcher.fast_field_values("key", addresses), searcher.fast_field_values("day", addresses)
        return [(int(k), int(d or 0)) for k, d in zip(keys, days, strict=True)]

    def _newest(self, q: ParsedQuery, limit: int, within: Sequence[int] | None) -> tuple[Any, list[Any]]:
        """The searcher and the addresses of the ``limit`` newest papers meeting ``q``'s constraints."""
        searcher = self.index.searcher()
        result = searcher.search(
            self._filter(q, within), limit, count=False, order_by_field="day", order=tantivy.Order.Desc
        )
        return searcher, [address for _, address in result.hits]

    def count_matching(self, q: ParsedQuery) -> int:
        """How many papers meet ``q``'s constraints."""
        return int(self.index.searcher().search(self._filter(q), 1, count=True).count or 0)

    def size(self) -> int:
        return int(self.index.searcher().num_docs)

    def close(self) -> None:
        """Nothing to release: tantivy's files close with the index object (a shard set has threads to stop)."""

    def segments(self) -> int:
        """How many segments tantivy searches one after the other (bench/keyword_scale.py prints it)."""
        return int(self.index.searcher().num_segments)

    def document_frequency(self, words: Sequence[str]) -> dict[str, int]:
        """In how many papers' abstracts each word occurs (after the index's own stemming); remembered until the
        index changes ("for you" asks for a reader's hundreds of words on every request)."""
        known, out, searcher = self._frequencies, {}, None
        for word in words:
            found = known.get(word)
            if found is None:
                searcher = searcher or self.index.searcher()
                found = max((int(searcher.doc_freq("abstract", t)) for t in self._paper.analyze(word)), default=0)
                known[word] = found
            out[word] = found
        if len(known) > FREQUENCIES_KEPT:  # a new dict, not clear(): another thread may be reading this one
            self._frequencies = {}
        return out

    def snippets(self, q: ParsedQuery, keys: Sequence[int]) -> dict[int, tuple[Snippet, Snippet]]:
        """(title, abstract) snippets with the query's words marked, for each of ``keys`` in the index."""
        if not keys:
            return {}
        searcher = self.index.searcher()
        found = searcher.search(tantivy.Query.term_set_query(self.schema, "key", list(keys)), len(keys), count=False)
        terms = self._terms(self._paper_query, q.text)[:256]
        marker = (
            tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, field, t))
                    for t in terms
                    for field in ("title", "abstract")
                ]
            )
            if terms
            else None
        )
        out: dict[int, tuple[Snippet, Snippet]] = {}
        title_gen = abstract_gen = None
        if marker is not None:
            title_gen = tantivy.SnippetGenerator.create(searcher, marker, self.schema, "title")
            title_gen.set_max_num_chars(1000)
            abstract_gen = tantivy.SnippetGenerator.create(searcher, marker, self.schema, "abstract")
            abstract_gen.set_max_num_chars(SNIPPET_CHARS)
        for _, address in found.hits:
            doc = searcher.doc(address)
            key = int(doc.get_first("key"))
            title, abstract = doc.get_first("title") or "", doc.get_first("abstract") or ""
            out[key] = (_snippet(title_gen, doc, title, 1000), _snippet(abstract_gen, doc, abstract, SNIPPET_CHARS))
        return out


def about(estimate: float, most: int) -> int:
    """``estimate`` rounded up to two significant figures, at most ``most``: never below the estimate, so never
    below the largest document frequency it was made from (paging relies on that)."""
    whole = math.ceil(estimate)
    step = int(10 ** max(len(str(whole)) - 2, 0))
    return min(-(-whole // step) * step, most)


def _snippet(generator: Any, doc: Any, text: str, size: int) -> Snippet:
    if generator is not None:
        snippet = generator.snippet_from_doc(doc)
        fragment = snippet.fragment()
        if snippet.highlighted():
            raw = fragment.encode()
            marks = tuple(
                (len(raw[: r.start].decode(errors="ignore")), len(raw[: r.end].decode(errors="ignore")))
                for r in snippet.highlighted()
            )
            return Snippet(fragment, marks)
    return Snippet(_lead(text, size))


def _lead(text: str, size: int) -> str:
    """The start of ``text``, cut at a word boundary, with an ellipsis when cut."""
    if len(text) <= size:
        return text
    cut = text.rfind(" ", 0, size)
    return text[: cut if cut > size // 2 else size].rstrip() + " …"
