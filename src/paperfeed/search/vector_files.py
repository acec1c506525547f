"""The on-disk part of a vector index, mapped read-only and shared by every process on the machine.

A *base* is one generation of files in the index folder: the sorted keys (int64), their vectors (float16, one
row per key) and, above the exact-search size, the HNSW graph (usearch, float16). ``base.json`` names the current
generation and the store position it reflects; it is replaced with one atomic rename, so a reader sees either
the old base or the new one, never half of either. Processes map the files (``np.load(mmap_mode="r")``,
usearch ``restore(view=True)``), so N web processes hold one copy in the page cache instead of N in their heaps.
The vectors of a base with a graph are read a few scattered rows at a time, with ``pread`` rather than mapped
(:class:`paperfeed.search.row_file.RowFile`: mapped, the kernel mapped the pages around each row too).

A new base is written by :func:`write_base` under an exclusive ``flock`` on the folder's lock file: it merges
the previous base with the changes since (new and re-embedded papers, and keys to drop), adds them to the graph
incrementally (the graph is rebuilt only when the HNSW settings change) and removes the previous generation's
files (a process that still maps them keeps its mapping until it moves on: unlinked files live on while mapped).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from paperfeed.search.row_file import RowFile

Keys = npt.NDArray[np.int64]
Half = npt.NDArray[np.float16]
Matrix = npt.NDArray[np.float32]
META = "base.json"


@dataclass(frozen=True)
class Base:
    """One generation of the index's files, mapped (an empty base has no files)."""

    keys: Keys
    vectors: Half | RowFile  # mapped, or read row by row (a base with a graph)
    ann: Any = None  # a usearch Index viewing the saved graph, or None
    after: tuple[int, int] = (0, 0)  # the store position it reflects
    generation: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def rows(self, keys: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Each key's row, and whether the base holds it at all."""
        wanted = np.asarray(keys, dtype=np.int64)
        if not len(self.keys):
            return np.zeros(len(wanted), np.intp), np.zeros(len(wanted), bool)
        rows = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        return rows, self.keys[rows] == wanted


def empty_base(dim: int) -> Base:
    return Base(np.zeros(0, np.int64), np.zeros((0, dim), np.float16))


def load_base(folder: Path, expect: dict[str, Any], dim: int) -> Base | None:
    """The folder's current base when it was made with ``expect`` (model, instance, dim), mapped; None when
    there is none or it belongs to something else."""
    try:
        meta = json.loads((folder / META).read_text())
        if any(meta.get(name) != value for name, value in expect.items()):
            return None
        generation = str(meta["generation"])
        keys = np.load(folder / f"{generation}.keys.npy", mmap_mode="r")
        path = folder / f"{generation}.vectors.npy"
        vectors = _read_by_row(path) if meta.get("graph") else np.load(path, mmap_mode="r")
        ann = None
        if meta.get("graph"):
            from usearch.index import Index

            ann = Index.restore(str(folder / f"{generation}.usearch"), view=True)
            if ann is None:
                return None
        if vectors.shape != (len(keys), dim):
            return None
        return Base(keys, vectors, ann, (int(meta["after"][0]), int(meta["after"][1])), generation, meta)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        return None


def _read_by_row(path: Path) -> RowFile:
    """A graph base's vectors: read a few rows at a time, all over the file (paperfeed.search.row_file), so
    the file is read into the page cache in the background first."""
    rows = RowFile(path)
    rows.prefetch()
    return rows


def base_marker(folder: Path) -> tuple[int, int] | None:
    """What identifies the current ``base.json`` (inode, modification time), None when there is none: a
    changed marker means another base may have been written."""
    try:
        found = os.stat(folder / META)
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[bool]:
    """Hold the folder's write lock if no other process does; yields whether this one got it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "write.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Changes:
    """What a new base changes: ``keys`` (sorted) get ``vectors``; ``dropped`` leave."""

    keys: Keys
    vectors: Matrix
    dropped: Keys
    after: tuple[int, int]


def write_base(folder: Path, old: Base, changes: Changes, meta: dict[str, Any], graph: dict[str, Any] | None) -> None:
    """Write the base that ``old`` plus ``changes`` make, and make it current. ``graph``: the HNSW settings
    when the new base has a graph, else None. The caller holds :func:`exclusive`."""
    gone = np.union1d(changes.keys, changes.dropped)
    keep = ~np.isin(old.keys, gone) if len(old.keys) else np.zeros(0, bool)
    keys = np.concatenate([np.asarray(old.keys)[keep], changes.keys])
    order = np.argsort(keys, kind="stable")
    generation = f"g{uuid.uuid4().hex[:12]}"
    vectors = np.lib.format.open_memmap(
        folder / f"{generation}.vectors.tmp", mode="w+", dtype=np.float16, shape=(len(keys), old.vectors.shape[1])
    )
    kept = np.flatnonzero(keep)
    position = np.empty(len(keys), np.intp)
    position[order] = np.arange(len(keys))
    for start in range(0, len(kept), 65_536):  # in pieces: a whole-arXiv base never passes through the heap
        piece = kept[start : start + 65_536]
        vectors[position[start : start + len(piece)]] = old.vectors[piece]
    vectors[position[len(kept) :]] = changes.vectors.astype(np.float16)
    vectors.flush()
    del vectors
    np.save(folder / f"{generation}.keys.tmp.npy", keys[order])
    has_graph = graph is not None and len(keys) > 0
    if has_graph:
        _write_graph(folder / f"{generation}.usearch.tmp", old, changes, gone, graph or {})
    for suffix in ("vectors", "keys", "usearch") if has_graph else ("vectors", "keys"):
        tmp = folder / (f"{generation}.{suffix}.tmp.npy" if suffix == "keys" else f"{generation}.{suffix}.tmp")
        os.replace(tmp, folder / (f"{generation}.{suffix}" + (".npy" if suffix != "usearch" else "")))
    document = {**meta, "generation": generation, "after": list(changes.after), "count": len(keys),
                "graph": graph if has_graph else None}  # fmt: skip
    (folder / f"{META}.tmp").write_text(json.dumps(document))
    os.replace(folder / f"{META}.tmp", folder / META)
    _remove_others(folder, generation)


def _write_graph(path: Path, old: Base, changes: Changes, gone: Keys, graph: dict[str, Any]) -> None:
    """The old graph (restored into memory, not viewed, to change it) less ``gone`` plus the new vectors;
    built from every vector when there is no old graph or its settings differ."""
    from usearch.index import Index

    settings = {name: graph[name] for name in ("connectivity", "expansion_add")}
    index = None
    if old.ann is not None and old.meta.get("graph") == graph:
        index = Index.restore(str(path.parent / f"{old.generation}.usearch"))
    if index is None:
        index = Index(ndim=old.vectors.shape[1], metric="cos", dtype=graph["dtype"], **settings)
        keep = np.flatnonzero(~np.isin(old.keys, gone)) if len(old.keys) else np.zeros(0, np.intp)
        for start in range(0, len(keep), 65_536):
            rows = keep[start : start + 65_536]
            index.add(np.asarray(old.keys)[rows], np.asarray(old.vectors[rows], dtype=np.float32), threads=0)
    else:
        for key in gone[[bool(index.contains(int(k))) for k in gone]]:
            index.remove(int(key))
    if len(changes.keys):
        index.add(changes.keys, changes.vectors, threads=0)
    index.save(str(path))


def _remove_others(folder: Path, generation: str) -> None:
    for path in folder.iterdir():
        name = path.name
        if name.startswith("g") and not name.startswith(generation) and (".keys" in name or ".vectors" in name
                                                                          or ".usearch" in name):  # fmt: skip
            with contextlib.suppress(OSError):
                path.unlink()
    for legacy in ("vectors.usearch", "vectors.json"):  # the per-process graph of paperfeed before shared bases
        with contextlib.suppress(OSError):
            (folder / legacy).unlink()
