"""Vector search over the stored embeddings: exact below a size threshold, HNSW (usearch) above it.

The vectors live in two parts. The *base* (:mod:`paperfeed.search.vector_files`) is on disk, float16, mapped
read-only and shared by every process of the machine, with its HNSW graph above ``exact_below`` papers (or, on
PostgreSQL with pgvector, the database's graph instead). The *delta* is this process's float32 copy of what the
store wrote since the base was made: new papers are searchable in every process at its next sync, without a
rebuild. When the delta outgrows :func:`compact_at`, the process that notices first writes a new base
(incrementally: the graph is topped up, not rebuilt) and the others map it at their next sync.

Scores: a graph's candidates are re-scored exactly against the stored vectors; the delta is searched exactly;
the two lists are merged. recall@20 against exact search is printed by ``bench/search_latency.py`` and
``bench/scale.py``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from paperfeed.search.embed import DIM, MODEL_ID, Vectors, from_blobs
from paperfeed.search.instance import instance_id
from paperfeed.search.vector_files import (
    Base,
    Changes,
    base_marker,
    empty_base,
    exclusive,
    load_base,
    write_base,
)
from paperfeed.store import Store

log = logging.getLogger("paperfeed.search")
SYNC_PAGE = 20_000
HNSW = {"connectivity": 16, "expansion_add": 128}  # how the graph is built (a change, or of dtype, rebuilds it)
GraphDtype = Literal["f16", "i8"]  # the graph's own copy of the vectors: 768 or 384 bytes a paper at 384-d
OVERSAMPLE = {"f16": 1, "i8": 3}  # candidates taken from the graph per result, then re-scored exactly
EF_SEARCH = 256  # candidates a query visits: recall@20 0.958 at 96, 0.974 at 160, 0.985 at 256 (120k papers)


def ef_search(papers: int) -> int:
    """Candidates a query visits in a graph of ``papers``: more in a bigger graph, for the same recall. At 2.7
    million papers (bench/scale.py) recall@20 was 0.942 at 256, 0.970 at 512 and 0.984 at 768, for about 1 ms
    more a query; 512 between is interpolated."""
    return EF_SEARCH if papers <= 500_000 else 512 if papers <= 1_500_000 else 768


def pg_ef_search(papers: int) -> int:
    """The same for pgvector's graph (m 16, ef_construction 128), which holds full-precision vectors and so is
    not re-scored. Recall@20 against exact search: 0.969 / 0.987 / 0.995 at 100 / 200 / 400 over the 120k arXiv
    papers (6 ms a query at 200); over bench/scale.py's 500k, 0.97 / 0.99 / 0.99 at 200 / 400 / 800 (pgvector's
    own p50 7 / 12 / 22 ms), hence 400 there."""
    return 200 if papers <= 200_000 else 400 if papers <= 1_000_000 else 800


DENSE_BELOW = 50_000  # a base this small is also held as float32 for exact search (75 MB at 384-d)
DENSE_BYTES = 256_000_000  # ... and a graphless one this large (250k first-tier vectors of 256-d)
CHUNK = 65_536  # rows of a float16 base converted at a time by an exact scan
Hit = tuple[int, float]


def compact_at(base_size: int) -> int:
    """Delta size at which a new base is written: a tenth of the base, between 2,000 and 50,000 vectors. The
    delta is scanned exactly by every query and held by every process (50,000 x 1.5 KB = 77 MB), so it stays
    small; a backfill to whole arXiv then writes about 80 bases (each a few seconds: the files are copied, the
    graph topped up)."""
    return min(50_000, max(2_000, base_size // 10))


@dataclass(frozen=True)
class _State:
    """What one search sees: a base, the keys it no longer serves, and the delta (swapped whole on change)."""

    base: Base
    live: npt.NDArray[np.bool_]  # per base row: still served (not re-embedded since, not discarded)
    keys: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))  # delta keys
    matrix: Vectors = field(default_factory=lambda: np.zeros((0, DIM), np.float32))  # delta rows
    row: dict[int, int] = field(default_factory=dict)  # delta key -> row
    dense: Vectors | None = None  # the base as float32, when small

    @cached_property
    def served(self) -> int:
        """Base rows still served."""
        return int(self.live.sum())

    @property
    def shadowed(self) -> int:
        return len(self.live) - self.served

    @property
    def size(self) -> int:
        return self.served + len(self.keys)


class VectorIndex:
    """Embeddings of the store's papers, searchable by cosine similarity. Thread-safe; several processes may
    share one folder."""

    def __init__(
        self, folder: Path, *, exact_below: int = 20_000, model: str = MODEL_ID, dim: int = DIM,
        graph_dtype: GraphDtype = "i8",
    ) -> None:  # fmt: skip
        self.folder, self.exact_below, self.model, self.dim = folder, exact_below, model, dim
        self.graph_dtype = graph_dtype
        self._lock = threading.Lock()
        base = empty_base(dim)
        self._state = _State(base, np.zeros(0, bool), matrix=np.zeros((0, dim), np.float32))
        self._after = (0, 0)
        self._size = 0
        self._sample: Vectors | None = None
        self._database: Store | None = None
        self._instance = ""
        self._marker: tuple[int, int] | None = None
        self._compacting = False  # a thread of this process is writing a new base
        self._writer: threading.Thread | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def approximate(self) -> bool:
        return self._state.base.ann is not None or self._database is not None

    @property
    def generation(self) -> str:
        """The base this process maps ("" when none)."""
        return self._state.base.generation

    # -- keeping in step with the store and the folder ------------------------------------------------

    def sync(self, store: Store, *, background: bool = False) -> int:
        """Map a newer base if another process wrote one, take in every embedding written since, and write a
        new base when the delta has grown enough; return how many vectors this call took in. With
        ``background`` (a query's look before it runs) the new base is written by a thread of its own, and
        this process maps it at a later sync: queries never wait for a graph to be topped up (seconds at
        100k papers), since they go on with the current base and delta meanwhile."""
        with self._lock:
            if not self._instance:
                self._instance = instance_id(store)
            taken = self._refresh() + self._read(store)
            size = self._state.size
            if size >= self.exact_below and size > 0 and store.ann_backend() is not None:
                self._database = store  # PostgreSQL + pgvector: one HNSW graph in the database
            if self._wants_base(size, store):
                if not background:
                    self._compact(store)
                elif not self._compacting:
                    self._compacting = True
                    self._writer = threading.Thread(target=self._compact_aside, args=(store,), daemon=True,
                                                    name="paperfeed-vector-base")  # fmt: skip
                    self._writer.start()
            self._size = self._state.size
            return taken

    def wait_for_base(self, timeout: float | None = None) -> None:
        """Wait until no base is being written by this process's own thread (for tests; a process that exits
        meanwhile leaves only temporary files, which the next write removes)."""
        if self._writer is not None:
            self._writer.join(timeout)

    def _compact_aside(self, store: Store) -> None:
        """:meth:`_compact`'s work from a thread, without holding the index's lock while the files are written.
        The base it writes is mapped by the next sync (as one another process wrote would be), which also lets a
        tier that discards papers (the first tier) discard those of the delta read meanwhile."""
        try:
            with exclusive(self.folder) as mine:
                if not mine:
                    return
                with self._lock:
                    if base_marker(self.folder) != self._marker or not self._wants_base(self._state.size, store):
                        return  # another process wrote one meanwhile: the next sync maps it
                    state, after = self._state, self._after
                self._write(store, state, after)
        except Exception:  # whatever failed, the current base stays and the next sync tries again; a thread's
            # exception would otherwise be lost
            log.exception("writing a new vector base in %s failed", self.folder)
        finally:
            self._compacting = False

    def _expect(self) -> dict[str, object]:
        return {"model": self.model, "instance": self._instance, "dim": self.dim}

    def _refresh(self) -> int:
        """Map the folder's base if it is not the one mapped; return how many vectors it holds (0 when the
        mapped one is current). A stat of ``base.json`` decides, so this is cheap before every query."""
        marker = base_marker(self.folder)
        if marker == self._marker:
            return 0
        base = load_base(self.folder, self._expect(), self.dim)
        if base is None or base.generation == self._state.base.generation or base.after < self._state.base.after:
            self._marker = marker if base is not None else self._marker
            return 0
        self._marker = marker
        if base.ann is not None:
            base.ann.expansion_search = ef_search(len(base.keys))
        self._state = _State(base, np.ones(len(base.keys), bool), matrix=np.zeros((0, self.dim), np.float32),
                             dense=_dense(base, self.exact_below))  # fmt: skip
        self._after = base.after  # what came after it is read again from the store: the delta starts anew
        self._sample = None
        return len(base.keys)

    def _read(self, store: Store) -> int:
        """Take in what the store wrote since the last look; return how many vectors."""
        changed: dict[int, bytes] = {}
        after = self._after
        while batch := store.embeddings_since(self.model, after, SYNC_PAGE):
            changed.update((v.key, v.vector) for v in batch)
            after = (batch[-1].seq, batch[-1].key)
        self._after = after
        if changed:
            self._absorb(changed)
        return len(changed)

    def _absorb(self, changed: dict[int, bytes]) -> None:
        state = self._state
        keys = np.fromiter(changed, np.int64, len(changed))
        vectors = from_blobs([changed[int(k)] for k in keys], self.dim)
        rows, held = state.base.rows(keys)
        live = state.live.copy()
        live[rows[held]] = False  # the delta now serves these
        matrix, row = state.matrix.copy(), dict(state.row)
        old = np.array([k in row for k in keys.tolist()], dtype=bool)
        if old.any():
            matrix[[row[int(k)] for k in keys[old]]] = vectors[old]
        new = ~old
        start = len(state.keys)
        row.update({int(k): start + n for n, k in enumerate(keys[new])})
        self._state = _State(state.base, live, np.concatenate([state.keys, keys[new]]),
                             np.vstack([matrix, vectors[new]]), row, state.dense)  # fmt: skip
        self._sample = None

    def _wants_base(self, size: int, store: Store) -> bool:
        state = self._state
        graphless = size >= self.exact_below and state.base.ann is None and store.ann_backend() is None
        restyled = state.base.ann is not None and state.base.meta.get("graph") != {**HNSW, "dtype": self.graph_dtype}
        grown = max(len(state.keys), state.shadowed) >= compact_at(len(state.base.keys))
        return bool(size) and (graphless or restyled or grown)

    def _compact(self, store: Store) -> None:
        """Write a new base of everything this process serves, unless another process is writing one."""
        with exclusive(self.folder) as mine:
            if not mine:
                return
            if self._refresh():  # another process wrote one meanwhile: take what came after it, then decide
                self._read(store)
                if not self._wants_base(self._state.size, store):
                    return
            self._write(store, self._state, self._after)
            self._refresh()

    def _write(self, store: Store, state: _State, after: tuple[int, int]) -> None:
        """Write a base of what ``state`` serves (the delta read up to ``after``); the caller holds the folder's
        write lock."""
        order = np.argsort(state.keys, kind="stable")
        dropped = state.base.keys[~state.live]
        dropped = dropped[~np.isin(dropped, state.keys)] if len(dropped) else dropped
        graph = None
        if state.size >= self.exact_below and store.ann_backend() is None:
            graph = {**HNSW, "dtype": self.graph_dtype}
        changes = Changes(state.keys[order], state.matrix[order], np.asarray(dropped, np.int64), after)
        write_base(self.folder, state.base, changes, self._expect(), graph)

    def discard_in(self, other: VectorIndex) -> int:
        """Stop serving the papers that ``other`` (a better tier) now holds; return how many. For an index
        without a graph (the first tier never builds one); the next base leaves them out."""
        with self._lock:
            state, theirs = self._state, other.live_keys()
            if not state.size or not len(theirs):
                return 0
            live = state.live & np.isin(state.base.keys, theirs) if len(state.base.keys) else state.live
            gone_base = int(live.sum())
            new_live = state.live & ~live
            drop = np.isin(state.keys, theirs)
            if not gone_base and not drop.any():
                return 0
            keep = ~drop
            keys, matrix = state.keys[keep], state.matrix[keep]
            self._state = _State(state.base, new_live, keys, matrix, {int(k): n for n, k in enumerate(keys)},
                                 state.dense)  # fmt: skip
            self._size = self._state.size
            self._sample = None
            return gone_base + int(drop.sum())

    # -- reading ------------------------------------------------------------------------------------------

    def live_keys(self) -> npt.NDArray[np.int64]:
        """Every key this index serves, sorted."""
        state = self._state
        return np.union1d(np.asarray(state.base.keys)[state.live], state.keys)

    def export(
        self, keys: Sequence[int] | npt.NDArray[np.int64] | None = None
    ) -> tuple[npt.NDArray[np.int64], Vectors]:
        """(keys, float32 vectors) of ``keys`` that have one (every served key when None), sorted by key."""
        wanted = self.live_keys() if keys is None else np.intersect1d(self.live_keys(), np.asarray(keys, np.int64))
        return wanted, self._gather(self._state, wanted)

    def _gather(self, state: _State, keys: npt.NDArray[np.int64]) -> Vectors:
        """Vectors of ``keys``, all of which this index serves."""
        out = np.zeros((len(keys), self.dim), np.float32)
        in_delta = np.array([k in state.row for k in keys.tolist()], dtype=bool)
        if in_delta.any():
            out[in_delta] = state.matrix[[state.row[int(k)] for k in keys[in_delta]]]
        rows, _ = state.base.rows(keys[~in_delta])
        if len(rows):
            source = state.dense if state.dense is not None else state.base.vectors
            out[~in_delta] = np.asarray(source[np.sort(rows)], dtype=np.float32)[np.argsort(np.argsort(rows))]
        return out

    def sample_scores(self, query: Vectors, size: int = 2_048) -> Vectors:
        """Cosines of ``query`` with an even sample of the stored vectors: how similar a typical paper is."""
        if self._sample is None or len(self._sample) != min(size, self._size):
            state = self._state
            base_rows = np.flatnonzero(state.live)
            take = min(size, len(base_rows) + len(state.keys))
            picks: npt.NDArray[np.intp] = np.linspace(0, len(base_rows) + len(state.keys) - 1, take).astype(np.intp)
            from_base = picks[picks < len(base_rows)]
            parts = [np.asarray(state.base.vectors[base_rows[from_base]], np.float32),
                     state.matrix[picks[picks >= len(base_rows)] - len(base_rows)]]  # fmt: skip
            self._sample = np.ascontiguousarray(np.vstack(parts)) if take else np.zeros((0, self.dim), np.float32)
        scores: Vectors = self._sample @ query
        return scores

    def known(self, keys: Sequence[int]) -> npt.NDArray[np.bool_]:
        """Whether each of ``keys`` has a vector here (one vectorised lookup, for thousands of candidates)."""
        state = self._state
        wanted = np.asarray(list(keys), dtype=np.int64)
        in_delta = np.isin(wanted, state.keys) if len(state.keys) else np.zeros(len(wanted), bool)
        rows, held = state.base.rows(wanted)
        served = held & state.live[rows] if len(state.live) else held
        found: npt.NDArray[np.bool_] = in_delta | served
        return found

    def vector(self, key: int) -> Vectors | None:
        state = self._state
        row = state.row.get(key)
        if row is not None:
            delta: Vectors = state.matrix[row]
            return delta
        rows, held = state.base.rows([key])
        if not held[0] or not state.live[rows[0]]:
            return None
        source = state.dense if state.dense is not None else state.base.vectors
        found: Vectors = np.asarray(source[rows[0]], dtype=np.float32)
        return found

    def scores(self, query: Vectors, keys: Sequence[int]) -> dict[int, float]:
        """Exact cosine of ``query`` with each of ``keys`` that has a vector."""
        state = self._state
        wanted = np.asarray(list(keys), dtype=np.int64)
        if not len(wanted):
            return {}
        rows, held = state.base.rows(wanted)
        known = np.array([k in state.row for k in wanted.tolist()], dtype=bool) | (
            held & state.live[rows] if len(state.live) else held
        )
        found = np.unique(wanted[known])
        if not len(found):
            return {}
        values = self._gather(state, found) @ query
        return dict(zip(found.tolist(), values.tolist(), strict=True))

    def search(self, query: Vectors, k: int, *, within: Sequence[int] | None = None, exact: bool = False) -> list[Hit]:
        """The ``k`` nearest papers by cosine, best first; only among ``within`` when given (always exact)."""
        if k <= 0 or self._size == 0:
            return []
        if within is not None:
            return _top(self.scores(query, within), k)
        if self._database is not None and not exact:
            return self._database.nearest(query.tolist(), min(k, self._size), ef_search=pg_ef_search(self._size))
        state = self._state
        delta = _top_rows(state.matrix @ query if len(state.keys) else np.zeros(0, np.float32), state.keys, k)
        if state.base.ann is not None and not exact:
            return _merge(self._graph_hits(state, query, k), delta, k)
        return _merge(self._scan(state, query, k), delta, k)

    def _graph_hits(self, state: _State, query: Vectors, k: int) -> list[Hit]:
        """The graph's best ``k`` served papers, re-scored exactly against the stored vectors."""
        oversample = OVERSAMPLE.get(str((state.base.meta.get("graph") or {}).get("dtype")), 1)
        want = min(len(state.base.keys), oversample * k + min(state.shadowed, 4 * k))
        found = state.base.ann.search(query.astype(np.float32), want, threads=1)
        keys = np.asarray(found.keys, dtype=np.int64)
        rows, held = state.base.rows(keys)
        served = held & state.live[rows]
        keys, rows = keys[served], rows[served]
        values = np.asarray(state.base.vectors[np.sort(rows)], np.float32)[np.argsort(np.argsort(rows))] @ query
        return _top_rows(values, keys, k)

    def exact_many(self, queries: Vectors, k: int) -> list[list[Hit]]:
        """The exact ``k`` nearest papers of each row of ``queries``, in one pass over the stored vectors (what
        a benchmark's recall is measured against: 200 queries over 2.7 million papers in seconds)."""
        state = self._state
        if not self._size or k <= 0:
            return [[] for _ in queries]
        found: list[list[Hit]] = [[] for _ in queries]
        keys = np.asarray(state.base.keys)
        for start in range(0, len(keys), CHUNK):
            rows = np.asarray(state.base.vectors[start : start + CHUNK], np.float32) @ queries.T
            rows[~state.live[start : start + CHUNK]] = -np.inf
            for q in range(len(queries)):
                found[q] = _merge(found[q], [h for h in _top_rows(rows[:, q], keys[start:], k) if h[1] > -np.inf], k)
        if len(state.keys):
            delta = state.matrix @ queries.T
            for q in range(len(queries)):
                found[q] = _merge(found[q], _top_rows(delta[:, q], state.keys, k), k)
        return found

    def _scan(self, state: _State, query: Vectors, k: int) -> list[Hit]:
        """Exact search over the base (float32 copy when small, float16 rows converted piece by piece)."""
        if not len(state.base.keys):
            return []
        if state.dense is not None:
            values = state.dense @ query
        else:
            values = np.concatenate([np.asarray(state.base.vectors[i : i + CHUNK], np.float32) @ query
                                     for i in range(0, len(state.base.keys), CHUNK)])  # fmt: skip
        values = np.where(state.live, values, -np.inf)
        return [(key, value) for key, value in _top_rows(values, np.asarray(state.base.keys), k) if value > -np.inf]


def _dense(base: Base, exact_below: int) -> Vectors | None:
    """A float32 copy of a small base, or of one up to DENSE_BYTES that is searched exactly by design (below
    ``exact_below``: the first tier). Such an index scans every row for every query, and converting its float16
    rows each time took two thirds of the paper page's time at 120k provisional vectors (16 req/s under load)."""
    rows, dim = base.vectors.shape
    exact = rows < exact_below and rows * dim * 4 <= DENSE_BYTES
    return np.asarray(base.vectors, np.float32) if rows < DENSE_BELOW or exact else None


def _top_rows(values: npt.NDArray[np.float32], keys: npt.NDArray[np.int64], k: int) -> list[Hit]:
    take = min(k, len(values))
    if take <= 0:
        return []
    best = np.argpartition(-values, take - 1)[:take]
    best = best[np.argsort(-values[best], kind="stable")]
    return [(int(keys[i]), float(values[i])) for i in best]


def _merge(one: list[Hit], other: list[Hit], k: int) -> list[Hit]:
    return sorted(one + other, key=lambda item: (-item[1], item[0]))[:k]


def _top(scores: dict[int, float], k: int) -> list[Hit]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
