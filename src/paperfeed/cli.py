"""The ``paperfeed`` command. Reads settings, builds the store and clients, and prints; the work is elsewhere."""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from paperfeed import feed
from paperfeed.accounts import check_secret_key
from paperfeed.cli_context import Context, F, handle_errors, pass_context
from paperfeed.cli_digest import digest
from paperfeed.cli_enrich import enrich
from paperfeed.cli_mcp import mcp
from paperfeed.cli_ops import index_command, jobs, migrate_db, worker
from paperfeed.cli_render import authors_line, emit_json, err, out, print_report, progress_bar, show_results
from paperfeed.config import load_settings
from paperfeed.errors import BadRequest, IngestError
from paperfeed.ingest import arxiv_api
from paperfeed.ingest.files import FORMATS
from paperfeed.ingest.pipeline import ArxivFetch, fetch_arxiv, harvest_oai, import_file, update_plan
from paperfeed.ingest.pipeline import update as update_feed
from paperfeed.search.embed import MODEL_ID
from paperfeed.search.embed_job import EmbedReport, embed_papers
from paperfeed.search.engine import MAX_LIMIT, MODES, SORTS, parse_mode
from paperfeed.search.engine import parse_sort as parse_search_sort
from paperfeed.status import status, status_dict


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "database_url", metavar="URL", help="Database URL (env PAPERFEED_DATABASE_URL).")
@click.option("--config", "config_file", metavar="FILE", help="Config file of KEY=value lines (env PAPERFEED_CONFIG).")
@click.version_option(package_name="paperfeed")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, config_file: str | None) -> None:
    """paperfeed: a self-hostable research-paper feed.

    \b
    Typical first run:
      paperfeed init                      create the database (SQLite by default: ./var/paperfeed.db)
      paperfeed update                    fetch recent papers from arXiv (or import the seed file offline)
      paperfeed papers                    show the latest day's feed
    Settings come from PAPERFEED_* environment variables or a config file; see docs/admin.md.
    """
    try:
        settings = load_settings(config_file, database_url=database_url)
    except BadRequest as exc:
        raise click.UsageError(exc.message) from exc
    context = Context(settings, config_file)
    ctx.obj = context
    ctx.call_on_close(context.close)


@cli.command()
@pass_context
@handle_errors
def init(ctx: Context) -> None:
    """Create the database, or bring its schema up to date (safe to run again)."""
    applied = ctx.store.migrate()
    state = f"applied migrations {applied}" if applied else "already up to date"
    out.print(f"Database {ctx.store.stats().database}: {state} (schema version {ctx.store.schema_version()}).")
    vectors = ctx.store.setup_ann()
    out.print(f"{vectors[0].upper()}{vectors[1:]}.")


# -- progress and reports ------------------------------------------------------------------------------


# -- import and ingest ---------------------------------------------------------------------------------


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Skip detection and read FILE as this format.")
@click.option("--batch-size", type=click.IntRange(1, 50_000), help="Papers per transaction (default 1000).")
@click.option("--errors", "errors_file", metavar="OUT", help="Write every skipped record (JSON lines) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
@handle_errors
def import_command(
    ctx: Context, file: Path, fmt: str | None, batch_size: int | None, errors_file: str | None, as_json: bool
) -> None:
    """Import papers from FILE (gzip or plain), detecting its format from the content.

    \b
    Formats: arxiv-jsonl (../shared/data/arxiv), kaggle-snapshot (arxiv-metadata-oai-snapshot.json),
    hf-daily (Hugging Face Daily Papers JSON), arxiv-atom and oai-pmh (saved API responses).
    Bad records are skipped and reported with their line number; an interrupted import resumes where its
    last batch ended when run again; importing the same file twice changes nothing. A file of 64 MiB or more
    is parsed in a second process beside the writer (about 1.5x as fast on two cores).
    """
    store = ctx.ready_store()
    with progress_bar(f"import {file.name}") as update:
        report = import_file(store, file, fmt=fmt, batch_size=batch_size or ctx.settings.batch_size, progress=update)
    ctx.index()
    print_report(report, as_json, errors_file)


@cli.group()
def ingest() -> None:
    """Fetch papers from arXiv (Atom API or OAI-PMH), politely: one request per interval, with retries."""


def _parse_date(value: str | None, name: str) -> date | None:
    return feed.parse_day(value, name) if value is not None else None


@ingest.command("arxiv")
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="CAT",
    help="arXiv category; repeat for more; '*' for every category.",
)
@click.option("--since", required=True, metavar="DATE", help="First submission day (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Last submission day (default: today).")
@click.option("--page-size", type=click.IntRange(1, arxiv_api.MAX_PAGE), default=arxiv_api.MAX_PAGE, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
@handle_errors
def ingest_arxiv(
    ctx: Context, categories: tuple[str, ...], since: str, until: str | None, page_size: int, as_json: bool
) -> None:
    """Fetch papers submitted between --since and --until from the arXiv API.

    Long windows are split so that no query asks for more than 30,000 results. Defaults to the configured
    categories when no --category is given.
    """
    plan = ArxivFetch(
        api_url=ctx.settings.arxiv_api_url,
        categories=list(categories) or ctx.settings.categories,
        since=feed.parse_day(since, "--since"),
        until=_parse_date(until, "--until") or datetime.now(UTC).date(),
        page_size=page_size,
    )
    store = ctx.ready_store()
    with ctx.client() as client, progress_bar("arXiv API") as update:
        report = fetch_arxiv(store, client, plan, progress=update, batch_size=ctx.settings.batch_size)
    ctx.index()
    print_report(report, as_json)


@ingest.command("oai")
@click.option("--set", "set_spec", required=True, metavar="SET", help="OAI set, e.g. cs, math, physics:hep-th.")
@click.option("--from", "from_date", metavar="DATE", help="Records changed since this day (default: last harvest).")
@click.option("--until", metavar="DATE", help="Records changed up to this day.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
@handle_errors
def ingest_oai(ctx: Context, set_spec: str, from_date: str | None, until: str | None, as_json: bool) -> None:
    """Harvest arXiv metadata over OAI-PMH (ListRecords, metadataPrefix arXiv).

    Without --from, harvests incrementally from the response date of the last complete harvest of SET.
    """
    store = ctx.ready_store()
    with ctx.client() as client, progress_bar(f"OAI-PMH {set_spec}") as update:
        report = harvest_oai(
            store,
            client,
            url=ctx.settings.oai_url,
            set_spec=set_spec,
            from_date=_parse_date(from_date, "--from"),
            until=_parse_date(until, "--until"),
            progress=update,
            batch_size=ctx.settings.batch_size,
        )
    ctx.index()
    print_report(report, as_json)


@cli.command()
@click.option("--seed-file", type=click.Path(dir_okay=False, path_type=Path), help="File to import when offline.")
@click.option("--days", type=click.IntRange(1, 30), default=3, show_default=True, help="Days to fetch on a first run.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
@handle_errors
def update(ctx: Context, seed_file: Path | None, days: int, as_json: bool) -> None:
    """Bring the feed up to date: fetch new papers of the configured categories from the arXiv API.

    Where arXiv cannot be reached, say so and import the seed file instead (--seed-file, or
    PAPERFEED_SEED_FILE; default ../shared/data/arxiv/arxiv_daily.jsonl.gz).
    """
    store = ctx.ready_store()
    today = datetime.now(UTC).date()
    plan = update_plan(store, ctx.settings.arxiv_api_url, ctx.settings.categories, today, days)
    try:
        with ctx.client(max_retries=0, timeout=15) as probe:
            probe.get(plan.api_url, {"search_query": "cat:cs.LG", "max_results": 1})
        with ctx.client() as client, progress_bar("arXiv API") as progress:
            report = update_feed(store, client, plan, today, progress=progress, batch_size=ctx.settings.batch_size)
    except IngestError as exc:
        seed = seed_file or ctx.settings.seed_file
        err.print(Text(f"arXiv could not be reached ({exc.message}).", style="yellow"))
        if not seed.is_file():
            raise BadRequest(f"seed file {seed} does not exist either: give --seed-file PATH") from exc
        err.print(f"Importing from {seed} instead.")
        with progress_bar(f"import {seed.name}") as progress:
            report = import_file(store, seed, batch_size=ctx.settings.batch_size, progress=progress)
    ctx.index()
    print_report(report, as_json)


# -- reading -------------------------------------------------------------------------------------------


@cli.command()
@click.option("--date", "day", metavar="YYYY-MM-DD", help="One day's feed.")
@click.option("--week", metavar="YYYY-Www", help="One ISO week's feed, e.g. 2025-W12.")
@click.option("--month", metavar="YYYY-MM", help="One month's feed.")
@click.option("--category", metavar="CAT", help="Only papers in this arXiv category.")
@click.option("--sort", type=click.Choice(feed.SORTS), default="upvotes", show_default=True)
@click.option("--limit", type=int, default=20, show_default=True, help=f"Papers per page (1-{feed.MAX_LIMIT}).")
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@pass_context
@handle_errors
def papers(
    ctx: Context,
    day: str | None,
    week: str | None,
    month: str | None,
    category: str | None,
    sort: str,
    limit: int,
    page: int,
    as_json: bool,
) -> None:
    """List the feed for a day, week or month (default: the latest day with papers)."""
    period = feed.period_of(day=day, week=week, month=month)
    order = feed.parse_sort(sort)
    result = feed.feed(ctx.store, period, category=feed.parse_category(category), sort=order, page=page, limit=limit)
    if as_json:
        emit_json(feed.feed_page_dict(result))
        return
    title = f"{result.period.kind.capitalize()} {result.period.label}: {result.total:,} papers"
    table = Table("#", "id", "title", "authors", "cat", "▲", title=title, title_justify="left", expand=True)
    for rank, p in enumerate(result.papers, (page - 1) * limit + 1):
        table.add_row(
            str(rank), p.arxiv_id, Text(p.title), Text(authors_line(p)), p.primary_category or "", str(p.upvotes)
        )
    out.print(table)
    hints = [f"page {result.page} of {result.pages}"]
    if result.previous:
        hints.append(f"previous: {result.previous}")
    if result.next:
        hints.append(f"next: {result.next}")
    out.print(" · ".join(hints))


@cli.command()
@click.argument("arxiv_id")
@click.option("--json", "as_json", is_flag=True, help="Print the paper as JSON.")
@pass_context
@handle_errors
def show(ctx: Context, arxiv_id: str, as_json: bool) -> None:
    """Show one paper: metadata, versions and links."""
    p = feed.paper(ctx.store, arxiv_id)
    if as_json:
        emit_json(p.as_dict())
        return
    out.print(Text(p.title, style="bold"))
    out.print(Text(", ".join(a.name + (f" ({a.affiliation})" if a.affiliation else "") for a in p.authors)))
    facts = [
        ("id", p.versioned_id),
        ("categories", " ".join(p.categories)),
        ("feed date", str(p.feed_date or "")),
        ("first version", str(p.first_version_at or "")),
        ("latest version", str(p.latest_version_at or "")),
        ("versions", ", ".join(f"v{v.version} {v.created_at or ''}".strip() for v in p.versions)),
        ("comment", p.comment or ""),
        ("journal ref", p.journal_ref or ""),
        ("DOI", p.doi or ""),
        ("licence", p.license or ""),
        ("upvotes", str(p.upvotes)),
        ("source", p.source),
        *p.links.items(),
    ]
    for name, value in facts:
        if value:
            out.print(Text(f"{name:>15}: {value}"))
    out.print()
    out.print(Text(p.abstract))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the stats as JSON.")
@pass_context
@handle_errors
def stats(ctx: Context, as_json: bool) -> None:
    """Counts: papers, versions, categories, papers by source, feed date range, database size; and how far the
    background work has come (vectors per tier, time left, jobs, the last arXiv update)."""
    s = feed.stats(ctx.store)
    progress = status_dict(status(ctx.store, ctx.engine))
    values = {
        "papers": s.papers,
        "versions": s.versions,
        "categories": s.categories,
        "by_source": s.by_source,
        "first_feed_date": s.first_feed_date,
        "last_feed_date": s.last_feed_date,
        "embeddings": s.embeddings,
        "schema_version": s.schema_version,
        "database": s.database,
        "size_bytes": s.size_bytes,
        "status": progress,
    }
    if as_json:
        emit_json(values)
        return
    for key, value in values.items():
        if key != "status":
            out.print(Text(f"{key:>16}: {value}"))
    for key in ("vectors", "enrichment", "jobs", "lastUpdate", "lastUpdateError", "embedPath"):
        out.print(Text(f"{key:>16}: {progress[key]}"))
    out.print(Text(str(progress["summary"])))


_FILTERS = [
    click.option("--since", metavar="DATE", help="Only papers from this day on (YYYY, YYYY-MM or YYYY-MM-DD)."),
    click.option("--until", metavar="DATE", help="Only papers up to this day (YYYY, YYYY-MM or YYYY-MM-DD)."),
    click.option("--category", metavar="CAT", help="Only papers in this category (cs.LG), or archive (cs)."),
]


def filters(command: F) -> F:
    for option in reversed(_FILTERS):
        command = option(command)
    return command


@cli.command()
@click.argument("query")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True, help="Which retrieval.")
@filters
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True)
@click.option("--limit", type=int, default=10, show_default=True, help=f"Results per page (1-{MAX_LIMIT}).")
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_context
@handle_errors
def search(
    ctx: Context, query: str, mode: str, since: str | None, until: str | None, category: str | None, sort: str,
    limit: int, page: int, as_json: bool,
) -> None:  # fmt: skip
    """Search every paper by keywords and by meaning (hybrid by default).

    \b
    QUERY syntax:  words  "exact phrase"  -excluded  author:Name  title:word
                   cat:cs.LG  since:2025-03  until:2025-06-30  date:2025-01..2025-03  year:2025
    Semantic and hybrid modes need `paperfeed embed`; until then hybrid gives keyword results and says so.
    """
    results = feed.search(
        ctx.engine, query, mode=parse_mode(mode), since=since, until=until, category=category,
        sort=parse_search_sort(sort), limit=limit, page=page,
    )  # fmt: skip
    show_results(results, as_json)


@cli.command()
@click.argument("arxiv_id", required=False)
@click.option("--text", help="Find papers like this text (an abstract, a paragraph) instead of a paper; - reads stdin.")
@filters
@click.option("--limit", type=int, default=10, show_default=True, help=f"Results (1-{MAX_LIMIT}).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_context
@handle_errors
def similar(
    ctx: Context, arxiv_id: str | None, text: str | None, since: str | None, until: str | None,
    category: str | None, limit: int, as_json: bool,
) -> None:  # fmt: skip
    """Papers nearest in meaning to paper ARXIV_ID (itself left out), or to --text."""
    if (arxiv_id is None) == (text is None):
        raise BadRequest("give either ARXIV_ID or --text, not both or neither")
    if arxiv_id is not None:
        results = feed.similar(ctx.engine, arxiv_id, since=since, until=until, category=category, limit=limit)
    else:
        body = sys.stdin.read() if text == "-" else str(text)
        results = feed.similar_to_text(ctx.engine, body, since=since, until=until, category=category, limit=limit)
    show_results(results, as_json)


@cli.command()
@click.option("--limit", type=click.IntRange(1), help="Embed at most this many papers (default: all that need it).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
@handle_errors
def embed(ctx: Context, limit: int | None, as_json: bool) -> None:
    """Compute sentence embeddings (all-MiniLM-L6-v2) for semantic search and similar papers.

    Only papers without an embedding, or changed since theirs, are embedded; each batch is saved as it is
    done, so an interrupted run resumes when run again. About 50-100 papers/s on two cores.
    """
    store = ctx.ready_store()
    embedder = ctx.engine.embedder
    columns = [
        TextColumn("[bold]embed"),
        BarColumn(),
        TextColumn("{task.fields[done]:>9,}/{task.fields[backlog]:,} papers  {task.fields[rate]:>5,.0f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("embed", total=None, rate=0.0, done=0, backlog=0)

        logged = [0]

        def update(report: EmbedReport) -> None:
            done = report.embedded + report.unchanged
            total = min(report.backlog, limit or report.backlog)
            bar.update(task, completed=done, total=total, rate=report.rate, done=done, backlog=total)
            if not err.is_terminal and done - logged[0] >= 5000:  # a log file gets a line now and then
                logged[0] = done
                err.print(f"embed: {done:,}/{total:,} papers, {report.rate:,.0f}/s", highlight=False)

        report = embed_papers(store, embedder, limit=limit, progress=update)
    if as_json:
        emit_json(dataclasses.asdict(report))
        return
    out.print(
        f"Embedded {report.embedded:,} papers ({report.unchanged:,} rewritten with the same text) in "
        f"{report.seconds:.1f} s, {report.rate:,.1f} papers/s, {report.precision or embedder.requested}; "
        f"{store.count_embeddings(MODEL_ID):,} papers have embeddings."
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Server processes.")
@pass_context
@handle_errors
def serve(ctx: Context, host: str, port: int, workers: int) -> None:
    """Serve the web pages and the JSON API (uvicorn) until stopped with Ctrl-C.

    Needs PAPERFEED_SECRET_KEY (32+ random characters): it signs the forms' CSRF tokens, and a default
    would let anyone forge them.
    """
    import os

    import uvicorn

    s = ctx.settings
    check_secret_key(s.secret_key)
    ctx.ready_store()
    # The server processes build the app from settings themselves: they read the same config file and
    # environment, and the options given here win as they did in this process.
    if ctx.config_file:
        os.environ["PAPERFEED_CONFIG"] = str(Path(ctx.config_file).resolve())
    os.environ["PAPERFEED_DATABASE_URL"] = s.database_url
    os.environ["PAPERFEED_SECRET_KEY"] = s.secret_key
    err.print(f"paperfeed serving on http://{host}:{port}/ (API: http://{host}:{port}/api/docs), as {s.base_url}")
    if host not in ("127.0.0.1", "localhost", "::1") and not s.trusted_proxies:
        err.print(
            "Listening beyond this machine with no PAPERFEED_TRUSTED_PROXIES: fine when readers connect directly; "
            "behind a reverse proxy, set it to the proxy's address (docs/deployment.md).", style="yellow",
        )  # fmt: skip
    # Forwarding headers are the app's to judge (paperfeed.web.security, from PAPERFEED_TRUSTED_PROXIES), so
    # uvicorn's own handling, which trusts 127.0.0.1 by default, is off. Slow clients: every request's headers
    # must be in within header_timeout seconds (paperfeed.web.server), and idle connections close after as long.
    uvicorn.run(
        "paperfeed.web.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning",
        access_log=False, proxy_headers=False, timeout_keep_alive=max(1, round(s.header_timeout)),
        http="paperfeed.web.server:HeaderDeadlineProtocol", limit_concurrency=1000,
    )  # fmt: skip


@cli.command()
@click.argument("name")
@click.option("--revoke", is_flag=True, help="Take admin rights away instead.")
@pass_context
@handle_errors
def admin(ctx: Context, name: str, revoke: bool) -> None:
    """Make the account NAME an admin (who can hide comments and remove papers), or --revoke it."""
    user = ctx.ready_store().set_admin(name, not revoke)
    err.print(f"{user.name} is {'an admin' if user.is_admin else 'no longer an admin'}.")


cli.add_command(digest)
cli.add_command(enrich)
cli.add_command(mcp)
cli.add_command(worker)
cli.add_command(index_command)
cli.add_command(jobs)
cli.add_command(migrate_db)


def main() -> None:
    cli(prog_name="paperfeed")


if __name__ == "__main__":
    main()
