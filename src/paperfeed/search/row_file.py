"""The rows of a matrix in a ``.npy`` file, read on demand through the page cache instead of mapped.

A vector base with a graph is read a few scattered rows at a time: the rows the graph found, to re-score them
exactly; a hybrid query's pooled papers; a reader's "for you" candidates. Mapped, every such read made the
kernel map the pages around it too (read-ahead on a cold file, fault-around on a cached one), so each web process
came to map most of the 2.1 GB file at 2.7M papers: 1.8 GB of its RSS after 300 searches. Read with ``pread``,
the rows are in the page cache once per machine, shared by every process and reclaimable, and in no process's
RSS; a read costs a system call per run of neighbouring rows (a few microseconds), and whole-file passes
(exact search, a new base) are sequential reads that the kernel reads ahead as usual. The page cache is the
kernel's to keep or drop: a base's file is read into it once when the base is loaded (:meth:`RowFile.prefetch`),
and a row dropped since is read from the disk again (some 0.1 ms here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

# Rows this close together are read in one call (the rows between them read and dropped): a 768-byte row costs
# less to read than another system call.
GAP = 8


def npy_header(f: BinaryIO, name: str) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """(shape, Fortran order, dtype, data offset) of the ``.npy`` file open at its start. Raises ValueError
    (naming the file) when it is not a version 1 or 2 ``.npy`` array, the versions numpy writes."""
    try:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        shape, fortran, dtype = read[version](f)
    except (ValueError, KeyError, SyntaxError) as exc:  # (numpy's own messages differ by what is wrong)
        raise ValueError(f"{name} is not a .npy array of version 1 or 2: {exc!r}") from exc
    return tuple(shape), bool(fortran), dtype, f.tell()


class RowFile:
    """A 2-d C-order ``.npy`` matrix read row by row with ``pread`` (thread-safe: no shared file position).

    Indexed like the array it holds by a row, a slice of rows or an array of rows (in any order, repeats
    allowed); each answer is a new array. The file stays open while this object lives, so a file unlinked
    meanwhile (an older base) is still read whole."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed with this object: see close)
        try:
            shape, fortran, dtype, self._offset = npy_header(self._file, path.name)
            if len(shape) != 2 or (fortran and shape[0] > 1 and shape[1] > 1):
                raise ValueError(f"{path.name} is not a matrix stored row by row (shape {shape})")
            self.shape: tuple[int, int] = (shape[0], shape[1])
            self.dtype = dtype
            self._row = shape[1] * dtype.itemsize
            if self._offset + self.shape[0] * self._row > os.fstat(self._file.fileno()).st_size:
                raise ValueError(f"{path.name} is shorter than its header says")
        except BaseException:
            self._file.close()
            raise

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        self._file.close()

    def prefetch(self) -> None:
        """Ask the kernel to read the whole file into the page cache now, in the background (returns at once),
        so that the first searches do not wait on the disk for each row: a search reads rows all over it."""
        if hasattr(os, "posix_fadvise"):  # (Linux and most Unixes; elsewhere rows are read as they are asked)
            os.posix_fadvise(self._file.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)

    def __del__(self) -> None:  # a replaced base's file is closed when the last search that read it ends
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        whole = self[0 : len(self)]
        return whole if dtype is None else whole.astype(dtype)

    def __getitem__(self, index: int | np.integer[Any] | slice | npt.ArrayLike) -> npt.NDArray[Any]:
        if isinstance(index, int | np.integer):
            row = int(index) + len(self) if index < 0 else int(index)
            if not 0 <= row < len(self):
                raise IndexError(f"row {index} of {len(self)}")
            found: npt.NDArray[Any] = self._read(row, 1)[0]
            return found
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return self[np.arange(start, stop, step)]
            return self._read(start, max(0, stop - start))
        wanted = np.asarray(index)
        if wanted.dtype == np.bool_:  # (a mask would read as rows 0 and 1)
            raise IndexError("rows are chosen by number here, not by a boolean mask")
        return self._rows(wanted.astype(np.intp, copy=False))

    def _rows(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[Any]:
        if rows.ndim != 1:
            raise IndexError("rows must be a 1-d array")
        rows = np.where(rows < 0, rows + len(self), rows)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"a row outside 0..{len(self) - 1}")
        out = np.empty((len(rows), self.shape[1]), self.dtype)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(ordered) > GAP) + 1])
        lows, highs = ordered[starts], ordered[np.append(starts[1:], len(ordered)) - 1]
        ends = np.cumsum(highs - lows + 1)  # each run's rows laid end to end in one buffer
        begins = ends - (highs - lows + 1)
        buffer = np.empty((int(ends[-1]), self.shape[1]), self.dtype)
        view, fd = memoryview(buffer.data).cast("B"), self._file.fileno()
        for low, begin, end in zip(lows.tolist(), begins.tolist(), ends.tolist(), strict=True):
            # (the loop is all system calls, one per run: a hybrid query reads some 500 rows, in about 1 ms)
            wanted = view[begin * self._row : end * self._row]
            if os.preadv(fd, [wanted], self._offset + low * self._row) != len(wanted):
                buffer[begin:end] = self._read(low, end - begin)  # a short read: again, whole, or raise
        run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(ordered))))
        out[order] = buffer[begins[run] + (ordered - lows[run])]
        return out

    def _read(self, row: int, count: int) -> npt.NDArray[Any]:
        size, at = count * self._row, self._offset + row * self._row
        data = bytearray(size)
        view, done = memoryview(data), 0
        while done < size:  # (one call reads at most about 2 GB on Linux)
            got = os.preadv(self._file.fileno(), [view[done:]], at + done)
            if got <= 0:
                raise OSError(f"{self._file.name}: read {done} of {size} bytes (the file shrank)")
            done += got
        return np.frombuffer(data, self.dtype).reshape(count, self.shape[1])
