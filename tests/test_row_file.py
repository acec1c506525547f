"""RowFile: a .npy matrix read row by row, never mapped (the vectors of a base with a graph)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from paperfeed.search.row_file import RowFile


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, np.ndarray]:
    matrix = np.random.default_rng(7).normal(size=(1000, 12)).astype(np.float16)
    np.save(tmp_path / "v.npy", matrix)
    return tmp_path / "v.npy", matrix


@pytest.mark.parametrize(
    "index",
    [
        0, 999, -1, np.int64(17),
        slice(None), slice(10, 20), slice(-5, None), slice(990, 2000), slice(20, 10), slice(3, 400, 7),
        [5, 3, 5, 999, 0, 1, 2, 500], np.array([], np.intp), np.arange(0, 1000, 9), np.array([998, 2, 4, 6, -2]),
    ],
)  # fmt: skip
def test_rows_read_as_numpy_indexes_them(written: tuple[Path, np.ndarray], index: Any) -> None:
    path, matrix = written
    rows = RowFile(path)
    assert rows.shape == (1000, 12) and len(rows) == 1000
    np.testing.assert_array_equal(rows[index], matrix[index])
    assert rows[index].dtype == np.float16


def test_the_whole_matrix_converts_like_an_array(written: tuple[Path, np.ndarray]) -> None:
    path, matrix = written
    np.testing.assert_array_equal(np.asarray(RowFile(path), np.float32), matrix.astype(np.float32))


@pytest.mark.parametrize(
    "index", [1000, -1001, [0, 1000], [-1001], np.zeros((2, 2), np.intp), np.ones(1000, bool), [True, False]]
)
def test_a_row_outside_the_matrix_is_an_index_error(written: tuple[Path, np.ndarray], index: Any) -> None:
    with pytest.raises(IndexError):
        RowFile(written[0])[index]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not a .npy array"),
        (b"not an array at all", "not a .npy array"),
        (b"\x93NUMPY\x09\x00garbage", "not a .npy array"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}     \n", "not a .npy array"),
        (b"\x93NUMPY" + b"\xff" * 100_000, "not a .npy array"),
    ],
)
def test_a_file_that_is_not_an_array_is_refused_by_name(tmp_path: Path, content: bytes, problem: str) -> None:
    (tmp_path / "v.npy").write_bytes(content)
    with pytest.raises(ValueError, match=rf"v\.npy is {problem}"):
        RowFile(tmp_path / "v.npy")


@pytest.mark.parametrize(
    ("array", "problem"),
    [(np.zeros((2, 3, 4), np.float16), "not a matrix"), (np.asfortranarray(np.ones((5, 4))), "not a matrix")],
)
def test_an_array_that_is_not_a_row_major_matrix_is_refused(tmp_path: Path, array: np.ndarray, problem: str) -> None:
    np.save(tmp_path / "v.npy", array)
    with pytest.raises(ValueError, match=problem):
        RowFile(tmp_path / "v.npy")


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((1000, 16), np.float16))
    with open(tmp_path / "v.npy", "r+b") as f:
        f.truncate(4096)
    with pytest.raises(ValueError, match="shorter than its header"):
        RowFile(tmp_path / "v.npy")


def test_a_file_unlinked_while_open_is_still_read(written: tuple[Path, np.ndarray]) -> None:
    path, matrix = written
    rows = RowFile(path)
    path.unlink()  # a newer base replaced it; searches in flight still read this one
    np.testing.assert_array_equal(rows[[3, 900]], matrix[[3, 900]])


def test_threads_read_their_own_rows(written: tuple[Path, np.ndarray]) -> None:
    path, matrix = written
    rows, wrong = RowFile(path), []

    def read(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(200):
            wanted = rng.integers(0, 1000, size=int(rng.integers(1, 40)))
            if not np.array_equal(rows[wanted], matrix[wanted]):
                wrong.append(seed)

    threads = [threading.Thread(target=read, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc/self/maps")
def test_the_rows_are_read_not_mapped(written: tuple[Path, np.ndarray]) -> None:
    # Mapped, every row read made the kernel map the pages around it into the process (1.8 GB of a web process's
    # RSS at 2.7M papers); read, the rows stay in the shared page cache.
    path, matrix = written
    rows = RowFile(path)
    rows.prefetch()  # into the page cache, not into this process
    np.testing.assert_array_equal(rows[np.arange(0, 1000, 3)], matrix[::3])
    assert str(path) not in Path("/proc/self/maps").read_text()
