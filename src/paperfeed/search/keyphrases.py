"""Key phrases and a one-sentence summary taken from a paper's own words (never generated text).

The method is KeyBERT's, over the static vectors distilled from our MiniLM (paperfeed.search.static_embed):
candidates are the runs of one to three content words between stop words and punctuation; each is scored by
the cosine of its vector to the whole text's, with a bonus for appearing in the title, for recurring and for
being a phrase rather than a word; then maximal marginal relevance picks up to eight that are not near-copies
of each other. The summary is the abstract sentence nearest the text's vector: its most central sentence,
quoted exactly. Measured in bench/enrich.py (docs/decisions.md, "Enrichment").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from paperfeed.search.embed import IMPORT_LOCK, TextEncoder, Vectors

MAX_KEYWORDS = 8
MIN_KEYWORDS = 5
DIVERSITY = 0.4  # MMR: how much a candidate's likeness to those already chosen counts against it
MAX_CANDIDATES = 120
# Words that carry no topic in an abstract: English stop words, and the verbs, adverbs and generic nouns that
# every abstract uses ("we propose a novel framework that achieves state-of-the-art performance").
_GENERIC = frozenset(
    """paper propose proposes proposed method methods approach approaches results result show shows shown showing
    using use uses used based novel new also however via existing present presents presented work works
    furthermore moreover achieve achieves achieved achieving significantly experiments experiment extensive
    demonstrate demonstrates demonstrated state art provide provides providing various specifically accomplish
    help helps understand consider considers avoid better different original obtain obtained including include
    includes allows allow enable enables improve improves improved improving called make makes given high low
    large small key main good best effective efficient simple strong recent recently able way ways problem
    problems task tasks performance study studies analysis framework model models data system systems technique
    techniques strategy important challenging widely commonly typically often first second finally additionally
    particular particularly respectively thus hence outperforms outperform outperforming compared comparison
    evaluate evaluated evaluation introduce introduces introduced leverage leverages leveraging utilize utilizes
    explore explores investigate investigates address addresses superior significant substantial substantially
    competitive comprehensive publicly available code https http www github com capability capabilities terms
    level levels set sets number numbers range source real-time state-of-the-art end-to-end despite remains
    remain lack lacks aims aim focus focuses benchmark benchmarks dataset datasets let lets populate populates
    facilitate facilitates struggle struggles contain contains generalize generalizes preserve preserves capture
    captures require requires yield yields perform performs produce produces learn learns generate generates
    suffer suffers lead leads rely relies offer offers exhibit exhibits fail fails tend tends serve serves
    become becomes enhance enhances reduce reduces increase increases ensure ensures employ employs adopt adopts
    integrate integrates incorporate incorporates combine combines apply applies extend extends support supports
    reveal reveals suggest suggests indicate indicates observe observed find finds found limited""".split()  # noqa: SIM905 (a word list reads better as prose)
)


@cache
def stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, imported on first use: importing scikit-learn takes most of a second,
    which every CLI command and every process start paid before. (Not while torch is being imported: IMPORT_LOCK.)"""
    with IMPORT_LOCK:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


_LY_NOUNS = frozenset("anomaly family assembly supply monopoly butterfly poly reply ally italy".split())  # noqa: SIM905
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]|[A-Z]")
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"“”]|\s[-–—]\s|\$[^$]*\$")  # punctuation, dashes, inline LaTeX
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])")
_SUMMARY_WORDS = (6, 60)  # a summary sentence is at least a clause and not a paragraph


@dataclass(frozen=True, slots=True)
class Extracted:
    keywords: tuple[str, ...]
    summary: str | None


def candidates(text: str) -> list[str]:
    """Runs of content words (one to three; longer runs give their two- and three-word pieces), each once,
    as first written."""
    runs: list[list[str]] = []
    for clause in _CLAUSE.split(text):
        run: list[str] = []
        for word in clause.split():
            if _stop(word):
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(word)
        if run:
            runs.append(run)
    found: dict[str, str] = {}
    plain: dict[str, str] = {}  # single plain words: used only when a short text has too few phrases
    for run in runs:
        if len(run) > 1 and run[0].islower() and run[0].endswith("ing"):  # "enabling deductive reasoning"
            run = run[1:]
        if len(run) == 1 and not _distinctive(run[0]):
            plain.setdefault(run[0].lower(), run[0])
            continue
        pieces = [run] if len(run) <= 3 else [run[i : i + n] for n in (2, 3) for i in range(len(run) - n + 1)]
        for piece in pieces:
            phrase = " ".join(piece)
            found.setdefault(phrase.lower(), phrase)
    if len(found) < MIN_KEYWORDS:
        for key, word in plain.items():
            found.setdefault(key, word)
    return list(found.values())[:MAX_CANDIDATES]


def _distinctive(word: str) -> bool:
    """A single word is a key phrase only when it looks like a name: an acronym or a capital inside (FaceMoE),
    hyphenated or with digits. Plain words alone say little ("image", "graph"), and a capital at the start only
    says where a sentence or title began ("Experts")."""
    return any(c.isupper() for c in word[1:]) or "-" in word or any(c.isdigit() for c in word)


def _stop(word: str) -> bool:
    """A word that ends or breaks a phrase: a generic word, an adverb (-ly), or not a word at all."""
    lowered = word.lower()
    if lowered in _GENERIC or lowered in stop_words() or not _WORD.fullmatch(word):
        return True
    return lowered.endswith("ly") and lowered not in _LY_NOUNS


def sentences(abstract: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(abstract.strip()) if s.strip()]


def _mmr(scores: Vectors, vectors: Vectors, k: int) -> list[int]:
    chosen: list[int] = []
    left = list(range(len(scores)))
    while left and len(chosen) < k:
        if chosen:
            redundancy = (vectors[left] @ vectors[chosen].T).max(axis=1)
            best = left[int(np.argmax((1 - DIVERSITY) * scores[left] - DIVERSITY * redundancy))]
        else:
            best = left[int(np.argmax(scores[left]))]
        chosen.append(best)
        left.remove(best)
    return chosen


def _pick(title: str, abstract: str, phrases: list[str], doc: Vectors, pv: Vectors, sv: Vectors,
          said: list[str]) -> Extracted:  # fmt: skip
    keywords: tuple[str, ...] = ()
    if phrases:
        lowered_title, lowered = title.lower(), abstract.lower()
        bonus = np.array(
            [0.15 * (p.lower() in lowered_title) + 0.03 * min(lowered.count(p.lower()), 4)
             + 0.04 * min(p.count(" ") + 1, 2) for p in phrases], dtype=np.float32,
        )  # fmt: skip
        keywords = tuple(phrases[i] for i in _mmr(pv @ doc + bonus, pv, MAX_KEYWORDS))
    fitting = [i for i, s in enumerate(said) if _SUMMARY_WORDS[0] <= len(s.split()) <= _SUMMARY_WORDS[1]]
    summary = said[max(fitting, key=lambda i: float(sv[i] @ doc))] if fitting else None
    return Extracted(keywords, summary)


def extract(encoder: TextEncoder, papers: Sequence[tuple[str, str]]) -> list[Extracted]:
    """Key phrases and the central sentence of each (title, abstract), in order: one encoder call for the
    whole batch (texts, candidates and sentences together)."""
    texts: list[str] = []
    plans: list[tuple[int, list[str], list[str]]] = []
    for title, abstract in papers:
        phrases, said = candidates(f"{title}. {abstract}"), sentences(abstract)
        plans.append((len(texts), phrases, said))
        texts += [f"{title}. {abstract}", *phrases, *said]
    vectors = encoder.encode(texts)
    out = []
    for (title, abstract), (start, phrases, said) in zip(papers, plans, strict=True):
        pv = vectors[start + 1 : start + 1 + len(phrases)]
        sv = vectors[start + 1 + len(phrases) : start + 1 + len(phrases) + len(said)]
        out.append(_pick(title, abstract, phrases, vectors[start], pv, sv, said))
    return out
