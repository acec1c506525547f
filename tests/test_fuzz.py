"""Property tests: whatever a file or a record holds, the import either takes it, skips it with a reason, or
stops with a clear IngestError; it never crashes with anything else and never leaves a partial batch."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperfeed.errors import IngestError
from paperfeed.ingest import hf_daily, snapshot
from paperfeed.ingest.pipeline import import_file
from paperfeed.ingest.records import Parsed, Skipped, convert
from paperfeed.store import open_store
from test_parsers import HF_ITEM, KAGGLE

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The base record with some fields replaced by arbitrary JSON values or removed."""
    keys = sorted(base)
    return st.dictionaries(st.sampled_from(keys), json_values | st.just("__drop__"), max_size=len(keys)).map(
        lambda changes: {k: v for k, v in {**base, **changes}.items() if v != "__drop__"}
    )


DAILY = {"id": "2503.00001", "title": "T", "abstract": "A", "authors": ["X"], "categories": ["cs.LG"],
         "comment": None, "first_seen_date": "2025-03-18"}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(record=mutated(DAILY) | mutated(KAGGLE))
def test_any_snapshot_record_is_parsed_or_skipped(record: dict[str, Any]) -> None:
    for parse in (snapshot.parse_daily_record, snapshot.parse_kaggle_record):
        item = convert(1, record, parse)
        assert isinstance(item, Parsed | Skipped)
        if isinstance(item, Skipped):
            assert item.reason


@settings(max_examples=300, deadline=None)
@given(item=mutated(HF_ITEM), paper=mutated(HF_ITEM["paper"]))
def test_any_daily_papers_item_is_parsed_or_skipped(item: dict[str, Any], paper: dict[str, Any]) -> None:
    result = convert(1, {**item, "paper": paper}, hf_daily.parse_hf_item)
    assert isinstance(result, Parsed | Skipped)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=300)
    | st.lists(mutated(DAILY), max_size=5).map(lambda rs: b"".join(orjson.dumps(r) + b"\n" for r in rs))
    | st.binary(max_size=200).map(lambda b: b'{"id": "2503.00001", "abstract": "x"}\n' + b),
    gz=st.booleans(),
    cut=st.integers(min_value=0, max_value=400),
)
def test_any_file_imports_or_fails_cleanly(data: bytes, gz: bool, cut: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"
        payload = gzip.compress(data) if gz else data
        path.write_bytes(payload[: max(cut, 1)] if cut < len(payload) else payload)
        store = open_store(f"sqlite:///{Path(tmp) / 'f.db'}")
        store.migrate()
        failure: IngestError | None = None
        try:
            report = import_file(store, path, batch_size=2)
        except IngestError as exc:
            failure = exc
        if failure is not None:
            assert failure.message  # a clear message; anything but IngestError fails the test
        else:
            assert report.complete
            assert store.stats().papers == report.inserted
        store.close()
