"""`paperfeed enrich`: compute (or backfill) every paper's code links, key phrases and extracted summary."""

from __future__ import annotations

import dataclasses

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from paperfeed.cli_context import Context, handle_errors, pass_context
from paperfeed.cli_render import emit_json, err, out
from paperfeed.enrich import enrich_papers


@click.command()
@click.option("--limit", type=click.IntRange(min=1), help="Enrich at most this many papers.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
@handle_errors
def enrich(ctx: Context, limit: int | None, as_json: bool) -> None:
    """Find each paper's code repository and project page, its key phrases and its most central sentence.

    Everything comes from the paper's own title, abstract and arXiv comment (nothing is fetched or generated).
    Only papers never enriched, or changed since, are done; each batch is saved as it finishes, so an
    interrupted run resumes. The worker does the same in the background after each update; this command is
    for a backfill now. Several hundred papers/s on two cores (the first run distils the static model, ~20 s).
    """
    store = ctx.ready_store()
    encoder = ctx.services.enricher
    if encoder.prepare():
        err.print("Distilled the static model from MiniLM (once per instance).")
    columns = [
        TextColumn("[bold]enrich"), BarColumn(), TextColumn("{task.fields[done]:>9,}/{task.fields[goal]:,} papers"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    ]  # fmt: skip
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("enrich", total=None, done=0, goal=0)

        def update(done: int, goal: int) -> None:
            bar.update(task, completed=done, total=goal, done=done, goal=goal)

        report = enrich_papers(store, encoder, limit=limit, progress=update)
    if as_json:
        emit_json(dataclasses.asdict(report))
        return
    out.print(
        f"Enriched {report.enriched:,} papers in {report.seconds:.1f} s ({report.rate:,.0f} papers/s); "
        f"{report.left:,} left."
    )
