"""Enrichment over the 120,045 arXiv papers: papers/s for links + key phrases + summary, and how exact the code
links are.

    .venv/bin/python bench/enrich.py [--file ../shared/data/arxiv/arxiv_daily.jsonl.gz]
                                     [--cache ~/.cache/paperfeed-bench] [--limit N] [--check 200]

The store that bench/search_latency.py builds under --cache (the papers with their MiniLM vectors) is copied to a
temporary folder, so every run enriches every paper from nothing. The static model distilled from MiniLM is the
one under --cache/models (distilled there on the first run). Prints the rate of ``paperfeed.enrich.enrich_papers``
(one process, as the worker runs it; the goal is at least 200 papers/s on two cores).

Then the code-link check on --check papers (a fixed random sample) whose abstract contains a github.com or
gitlab.com URL. The reference is read by hand-written rules independent of paperfeed.ingest.links: the first
``github.com/OWNER/REPO`` or ``gitlab.com/...`` token of the abstract as written, with trailing sentence
punctuation, ``.git`` and deeper paths removed. A paper counts as correct when paperfeed's repository equals it
(ignoring case); precision is correct / papers where paperfeed gave a repository, recall correct / papers. Every
disagreement is printed, so the reference itself can be judged by reading them.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import tempfile
import time
from pathlib import Path

from paperfeed.enrich import enrich_papers
from paperfeed.models import Paper
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
_REFERENCE = re.compile(r"(github\.com|gitlab\.com)/([^\s/{}\\]+)/([^\s/{}\\]+)", re.I)


def reference_repo(abstract: str) -> str | None:
    match = _REFERENCE.search(abstract)
    if match is None:
        return None
    host, owner, repo = match.group(1).lower(), match.group(2), match.group(3)
    repo = repo.rstrip(".,;:)]}'\"").removesuffix(".git")
    return f"https://{host}/{owner}/{repo}"


def check_links(store: Store, sample: int) -> None:
    with_url: list[Paper] = []
    keys = list(range(1, store.stats().papers + 1))
    random.Random(7).shuffle(keys)
    found = store.papers_by_key(keys[:40_000])
    enriched = store.enrichments([p.arxiv_id for p in found.values()])  # (a --limit run enriched only some)
    for key in keys[:40_000]:
        paper = found.get(key)
        if paper and paper.arxiv_id in enriched and re.search(r"(github|gitlab)\.com/", paper.abstract, re.I):
            with_url.append(paper)
        if len(with_url) == sample:
            break
    given = correct = 0
    wrong = []
    for paper in with_url:
        ours = enriched.get(paper.arxiv_id)
        repo, expected = (ours.github_repo if ours else None), reference_repo(paper.abstract)
        given += repo is not None
        if repo is not None and expected is not None and repo.lower() == expected.lower():
            correct += 1
        else:
            wrong.append((paper.arxiv_id, repo, expected))
    print(f"\ncode links on {len(with_url)} papers whose abstract has a github.com or gitlab.com URL:")
    print(f"  precision {correct / max(given, 1):.3f} ({correct}/{given}), recall {correct / len(with_url):.3f}")
    for arxiv_id, repo, expected in wrong:
        print(f"  {arxiv_id}: paperfeed {repo}  reference {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/paperfeed-bench")
    parser.add_argument("--limit", type=int, default=None, help="enrich only this many papers")
    parser.add_argument("--check", type=int, default=200, help="papers in the code-link check")
    args = parser.parse_args()
    source = args.cache / "arxiv.db"
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/search_latency.py once first (it builds it)")
    with tempfile.TemporaryDirectory(prefix="paperfeed-enrich-") as tmp:
        print(f"copying {source} ...", flush=True)
        shutil.copy(source, Path(tmp) / "arxiv.db")
        store = open_store(f"sqlite:///{Path(tmp) / 'arxiv.db'}")
        store.migrate()
        encoder = StaticEmbedder(args.cache / "models")
        encoder.prepare()
        encoder.encode(["warm up"])
        started = time.perf_counter()

        def tell(done: int, total: int) -> None:
            if done % 10_240 < 256 or done == total:
                rate = done / (time.perf_counter() - started)
                print(f"  {done:,}/{total:,}  {rate:.0f} papers/s", flush=True)

        report = enrich_papers(store, encoder, limit=args.limit, progress=tell)
        print(f"enriched {report.enriched:,} papers in {report.seconds:.1f} s: {report.rate:.0f} papers/s "
              "(links + key phrases + summary; goal >= 200 papers/s on 2 cores)")  # fmt: skip
        check_links(store, args.check)
        store.close()


if __name__ == "__main__":
    main()
