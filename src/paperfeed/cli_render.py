"""What the ``paperfeed`` command prints: progress bars, import reports, search results."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from paperfeed import feed
from paperfeed.ingest.pipeline import ImportReport
from paperfeed.models import Paper
from paperfeed.search.engine import SearchResults

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[ImportReport, int, int | None], None]]:
    """A rich progress bar (on stderr) fed by the pipeline's progress callback."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[papers]:>9,} papers  {task.fields[rate]:>7,.0f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, transient=False) as bar:
        task: TaskID = bar.add_task(label, total=None, papers=0, rate=0.0)
        started = datetime.now(UTC)

        def update(report: ImportReport, done: int, total: int | None) -> None:
            seconds = max((datetime.now(UTC) - started).total_seconds(), 1e-6)
            papers = report.records + report.skipped
            bar.update(task, completed=done, total=total, papers=papers, rate=papers / seconds)

        yield update


def print_report(report: ImportReport, as_json: bool, errors_file: str | None = None) -> None:
    if errors_file:
        with Path(errors_file).open("wb") as f:
            for s in report.skipped_samples:
                f.write(orjson.dumps({"position": s.position, "reason": s.reason}) + b"\n")
    if as_json:
        emit_json(report.as_dict())
        return
    rate = report.records / report.seconds if report.seconds else 0.0
    resumed = f", resumed after record {report.resumed_from:,}" if report.resumed_from else ""
    out.print(
        f"{report.format} from {report.source}: {report.inserted:,} new, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.skipped:,} skipped{resumed} "
        f"({report.seconds:.1f} s, {rate:,.0f} papers/s)."
    )
    if report.deleted:
        out.print(f"{report.deleted:,} records were marked deleted at the source and left out.")
    for note in report.notes:
        out.print(Text(f"Note: {note}", style="yellow"))
    if report.skipped:
        table = Table("line/record", "why it was skipped", title="Skipped records", title_justify="left")
        for s in report.skipped_samples[:10]:
            table.add_row(str(s.position), Text(s.reason))
        out.print(table)
        if report.skipped > 10 and not errors_file:
            out.print(f"... {report.skipped - 10:,} more; --errors FILE writes them all.")


def authors_line(paper: Paper, most: int = 3) -> str:
    names = [a.name for a in paper.authors]
    return ", ".join(names[:most]) + (f" +{len(names) - most}" if len(names) > most else "")


def show_results(results: SearchResults, as_json: bool) -> None:
    if as_json:
        emit_json(feed.search_results_dict(results))
        return
    for notice in results.notices:
        err.print(Text(f"Note: {notice}", style="yellow"))
    for rank, hit in enumerate(results.hits, results.offset + 1):
        p = hit.paper
        head = Text(f"{rank:>3}. ")
        head.append(marked(hit.title.text, hit.title.marks, "bold"))
        out.print(head)
        facts = [p.arxiv_id, authors_line(p), p.primary_category or "", str(p.feed_date or "")]
        facts += [f"score {hit.score:.3f}", "+".join(hit.found_by) or results.used]
        out.print(Text("     " + " · ".join(f for f in facts if f), style="dim"))
        out.print(Text("     ").append(marked(hit.snippet.text, hit.snippet.marks)))
    if not results.hits:
        out.print("No results.")
    elif results.has_more:
        out.print(Text(f"More: --page {results.offset // results.limit + 2}", style="dim"))


def marked(text: str, marks: Sequence[tuple[int, int]], style: str = "") -> Text:
    """``text`` with the matched ranges highlighted."""
    result = Text(text, style=style)
    for start, end in marks:
        result.stylize("bold yellow", start, end)
    return result
