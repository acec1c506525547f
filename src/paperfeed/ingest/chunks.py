"""A file's records read ahead of the writer, a batch at a time and readied for the store: in a thread, or in
a process of its own.

Parsing and preparing are Python. In a thread they share the GIL with the writer, whose own Python (building
parameters, reading results) then waits for them, so a large import runs on about one core however many the
machine has. A reader process parses on a core of its own and hands over plain rows (see
paperfeed.store.prepared), which cost the writer about 7 us a paper to unpickle. Starting the process
costs about 0.27 s (a fresh interpreter imports the parsers and the store), so it pays only for large
files: :func:`reader_for` picks it from ``PROCESS_READER_BYTES`` up.

Either way memory stays constant (a thread's queue holds at most ``depth`` batches; a process blocks on its
full pipe), and an error in the reader is raised in the consumer, as the same exception.
"""

from __future__ import annotations

import gc
import itertools
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from paperfeed.errors import IngestError
from paperfeed.ingest.files import SourceFile, iter_file_items
from paperfeed.ingest.records import Item, Parsed, Skipped
from paperfeed.models import Paper
from paperfeed.store import PreparedBatch

Preparer = Callable[[Sequence[Paper]], PreparedBatch]
ReaderMode = Literal["auto", "thread", "process"]
Chunks = Generator["Chunk", None, None]
Reader = Callable[[SourceFile, int, int, Preparer], Chunks]
PROCESS_READER_BYTES = 64 * 1024 * 1024  # about 40,000 papers of plain JSON lines, 115,000 gzipped


@dataclass(frozen=True, slots=True)
class Chunk:
    """One batch: its skipped records, the position of its last record, how many bytes of the file had been
    read when it was complete, and its papers prepared for the store."""

    skipped: list[Skipped]
    last: int
    offset: int
    prepared: PreparedBatch


def _make_chunk(items: list[Item], offset: int, prepare: Preparer) -> Chunk:
    papers = [item.paper for item in items if isinstance(item, Parsed)]
    skipped = [item for item in items if isinstance(item, Skipped)]
    return Chunk(skipped, items[-1].position, offset, prepare(papers))


def _chunks(source: SourceFile, skip_until: int, size: int, prepare: Preparer) -> Iterator[Chunk]:
    offset = 0

    def moved(done: int) -> None:
        nonlocal offset
        offset = done

    items = iter_file_items(source, skip_until=skip_until, on_position=moved)
    while chunk := list(itertools.islice(items, size)):
        yield _make_chunk(chunk, offset, prepare)


def reader_for(source: SourceFile, mode: ReaderMode) -> Reader:
    """:func:`read_in_process` for ``mode`` "process", or "auto" with a file of PROCESS_READER_BYTES or more;
    :func:`read_in_thread` otherwise."""
    if mode == "process" or (mode == "auto" and source.size >= PROCESS_READER_BYTES):
        return read_in_process
    return read_in_thread


def read_in_thread(source: SourceFile, skip_until: int, size: int, prepare: Preparer, depth: int = 2) -> Chunks:
    """The chunks of ``source`` after position ``skip_until``, read in a background thread."""
    chunks: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: Chunk | BaseException | None) -> None:
        while not stop.is_set():
            try:
                chunks.put(value, timeout=0.1)
                return
            except queue.Full:
                continue

    def read() -> None:
        try:
            for chunk in _chunks(source, skip_until, size, prepare):
                put(chunk)
            put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    reader = threading.Thread(target=read, name="paperfeed-reader", daemon=True)
    reader.start()
    try:
        while (chunk := chunks.get()) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk
    finally:
        stop.set()
        reader.join(timeout=10)


def read_in_process(source: SourceFile, skip_until: int, size: int, prepare: Preparer) -> Chunks:
    """The same chunks, read in a process of its own: a fresh interpreter running this module (not
    multiprocessing, whose spawn re-runs the caller's main script and whose fork is unsafe beside threads). It
    writes each chunk pickled to its stdout, whose pipe buffer is the bound on how far it reads ahead. The
    process is stopped when the consumer stops early, and one that dies is an IngestError."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", __name__]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)  # noqa: S603 (ours)
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        pickle.dump((source, skip_until, size, prepare), child.stdin)
        child.stdin.close()
        while True:
            try:
                chunk = _load(child.stdout)
            except (EOFError, pickle.UnpicklingError):  # it ended without saying it was done
                code = child.wait()
                raise IngestError(
                    f"{source.path}: the reader process ended without finishing (exit code {code})"
                ) from None
            if chunk is None:
                return
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


def _load(stream: IO[bytes]) -> Chunk | BaseException | None:
    """One value from the reader process. A batch unpickles into some twenty objects a paper, none of them in a
    cycle; the cyclic collector, run every 700 allocations over the growing batch, nearly tripled the cost (19
    against 7 us a paper, on the arXiv sample), so it is paused for the load (refcounting still frees)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return pickle.load(stream)  # type: ignore[no-any-return]  # noqa: S301 (our own child, over a private pipe)
    finally:
        if paused:
            gc.enable()


def _serve(source: SourceFile, skip_until: int, size: int, prepare: Preparer, out: IO[bytes]) -> None:
    """The reader process: every chunk, then None; or the exception that stopped it. Each is pickled whole
    before it is written, so a value that cannot be pickled writes nothing (the parent then sees the end)."""
    try:
        for chunk in _chunks(source, skip_until, size, prepare):
            out.write(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
        out.write(pickle.dumps(None))
    except BrokenPipeError:
        raise
    except Exception as exc:
        out.write(pickle.dumps(exc))
    out.flush()


def _main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the importer's to handle: it stops this process
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print goes to stderr, not into the stream
    source, skip_until, size, prepare = pickle.load(sys.stdin.buffer)  # noqa: S301 (the parent's, over a pipe)
    try:
        _serve(source, skip_until, size, prepare, out)
    except BrokenPipeError:  # the importer is gone (killed): nobody to tell, and nothing to flush at exit
        os._exit(1)


if __name__ == "__main__":
    # run through the module's real name, so that what it pickles names paperfeed.ingest.chunks, not __main__
    from paperfeed.ingest import chunks

    chunks._main()
