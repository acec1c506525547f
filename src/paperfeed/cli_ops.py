"""Operating an instance: `paperfeed worker` runs the background jobs, `paperfeed jobs` shows the queue,
`paperfeed migrate-db` moves an instance to another database."""

from __future__ import annotations

import logging
import os
import signal
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from paperfeed.accounts import check_secret_key
from paperfeed.cli_context import Context, handle_errors, pass_context
from paperfeed.cli_render import emit_json, err, out
from paperfeed.errors import BadRequest, PaperfeedError
from paperfeed.search.embed_job import CHUNK_KIND, embedding_plan
from paperfeed.store import Store, database_url, open_store
from paperfeed.store.copy import copy_store
from paperfeed.store.sql import SqlStore
from paperfeed.worker import Worker
from paperfeed.worker_pool import SHARE_FLAG, child_environment, machine_threads, run_auto, run_pool

KINDS = ("update", "embed", CHUNK_KIND, "refit", "digest", "send")  # embed also runs the chunks it plans


def _worker(ctx: Context, kinds: tuple[str, ...], share_cores: bool = False) -> Worker:
    if ctx.settings.digest_schedule and (not kinds or {"digest", "send"} & set(kinds)):
        check_secret_key(ctx.settings.secret_key)  # the digests' links are signed with it
    ctx.ready_store()
    return ctx.services.worker(kinds, share_cores=share_cores)


def _plan(store: Store) -> tuple[int, int] | None:
    """The self-check's plan for this machine, or None while it is unknown (or the database cannot say now: the
    pool looks again later rather than leave its workers without a parent)."""
    try:
        return embedding_plan(store, machine_threads())
    except PaperfeedError:
        return None


class ProcessCount(click.ParamType["int | None"]):
    """A number of processes (1 to 64), or ``auto`` (None)."""

    name = "N|auto"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return None
        if text.isdigit() and 1 <= int(text) <= 64:
            return int(text)
        self.fail(f"{value!r} is neither auto nor a whole number from 1 to 64", param, ctx)


@click.command()
@click.option("--once", is_flag=True, help="Plan, run every due job, then exit (for cron or a systemd timer).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS), help="Run only these kinds (repeatable).")
@click.option("--poll", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True,
              help="Seconds between looks at the queue when it is empty.")  # fmt: skip
@click.option("--nice", type=click.IntRange(0, 19), default=10, show_default=True,
              help="Lower this process's CPU priority by this much, so that a web server on the same machine answers "
                   "first (0: as is).")  # fmt: skip
@click.option("--processes", type=ProcessCount(), default="auto", show_default=True,
              help="Worker processes to start on this machine, each claiming jobs on its own (a backfill embeds this "
                   "many chunks at a time) with its share of the cores. auto: one, plus helpers for the backfill's "
                   "chunks where the embedding self-check found several processes faster on this CPU.")  # fmt: skip
@click.option(SHARE_FLAG, "share_cores", is_flag=True, hidden=True)  # set by --processes auto for its processes
@pass_context
@handle_errors
def worker(
    ctx: Context, once: bool, kinds: tuple[str, ...], poll: float, nice: int, processes: int | None, share_cores: bool
) -> None:
    """Run the background jobs: arXiv updates, embedding, recommendation refits, digest composing and sending.

    Start as many workers as you like, on as many machines, against one PostgreSQL database: each job runs in
    one of them (claims use FOR UPDATE SKIP LOCKED), and a job whose worker died is taken over after its lease
    (10 minutes). On SQLite, `paperfeed serve` runs the same jobs itself unless PAPERFEED_JOBS_IN_PROCESS=false
    (`make run` does that and starts one worker beside it, so embedding never slows the pages down).
    Stops on SIGTERM or Ctrl-C within seconds: a long embedding job stops at its next slice of texts and the next
    job resumes there. Runs at a lower CPU priority (--nice) so that a web server beside it answers first.

    A backfill (a new instance, or a whole-arXiv import) is cut into chunks of papers that every worker claims
    in parallel, one chunk per worker at a time: `--processes N` starts N workers here, and workers on other
    machines (PostgreSQL) join in; by default (auto) one worker starts, plus the helpers for the chunks that the
    embedding self-check found faster on this CPU. Progress: `paperfeed stats` and /api/status ("backfill")."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    arguments = [*(["--once"] if once else []), *(f"--kind={k}" for k in kinds), f"--poll={poll}", f"--nice={nice}"]
    if processes is None and not once and (not kinds or CHUNK_KIND in kinds or "embed" in kinds):
        store = ctx.ready_store()
        env = child_environment(1, ctx.settings.database_url, ctx.config_file, threads=False)
        raise SystemExit(run_auto(arguments, env, partial(_plan, store), err.print))
    if processes is not None and processes > 1:
        ctx.ready_store()
        env = child_environment(processes, ctx.settings.database_url, ctx.config_file)
        err.print(f"Starting {processes} worker processes ({env['OMP_NUM_THREADS']} threads each); Ctrl-C to stop.")
        raise SystemExit(run_pool(processes, arguments, env))
    runner = _worker(ctx, kinds, share_cores)
    if once:
        outcomes = runner.drain()
        for o in outcomes:
            out.print(f"{o.job.key}: {'done' if o.ok else 'FAILED'}: {o.summary}", highlight=False)
        if not outcomes:
            out.print("No job was due.")
        return

    def stop(_signum: int, _frame: FrameType | None) -> None:
        err.print("Stopping after the job in hand ...")
        runner.stop()

    if nice:  # the daemon only: `--once` from cron finishes soon anyway
        os.nice(nice)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    err.print(f"Worker {runner.name}: running {', '.join(runner.handlers)}; Ctrl-C to stop.")
    runner.run_forever(poll)


@click.command("index")
@pass_context
@handle_errors
def index_command(ctx: Context) -> None:
    """Bring this machine's search indexes up to date with the database: the keyword index and the vector files
    (float16 vectors and the HNSW graph) that every web process here maps.

    A web process does the same at its first search, so this is never required; after a big import (whole
    arXiv: about half an hour on two cores) run it before starting the web processes, so that none of them
    spends its first minutes building what the others then map."""
    ctx.ready_store()
    started = time.monotonic()
    indexed, vectors = ctx.engine.refresh()
    covered = ctx.engine.tiers.coverage()
    out.print(f"Keyword index: {indexed:,} papers taken in; vectors: {vectors:,} taken in, {covered.main:,} MiniLM "
              f"and {covered.first:,} provisional served; {time.monotonic() - started:.1f} s.")  # fmt: skip


@click.command()
@click.option("--status", type=click.Choice(["queued", "running", "done", "failed"]), help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@pass_context
@handle_errors
def jobs(ctx: Context, status: str | None, limit: int, as_json: bool) -> None:
    """The latest background jobs, newest first: what ran, where, and why a job failed."""
    found = ctx.ready_store().list_jobs(limit, status)
    if as_json:
        emit_json([_row(j) for j in found])
        return
    if not found:
        out.print(f"No {status or ''} jobs. `paperfeed worker` (or `paperfeed serve` on SQLite) plans them.")
        return
    table = Table("id", "job", "status", "tries", "worker", "finished", "error")
    now = datetime.now(UTC)
    for j in found:
        ago = f"{(now - j.finished_at).total_seconds() / 60:.0f} min ago" if j.finished_at else ""
        table.add_row(str(j.id), j.key, j.status, str(j.attempts), j.locked_by or "", ago, (j.last_error or "")[:60])
    out.print(table)


def _row(j: object) -> dict[str, object]:
    fields = ("id", "kind", "key", "status", "attempts", "run_at", "locked_by", "last_error", "finished_at")
    return {f: getattr(j, f) for f in fields}


@click.command("migrate-db")
@click.option(
    "--from", "source", required=True, metavar="URL", help="The database to copy (sqlite:///, postgresql://)."
)
@click.option("--to", "target", required=True, metavar="URL", help="An empty database to copy into (made ready here).")
@click.option("--json", "as_json", is_flag=True, help="Print the table-by-table check as JSON.")
@handle_errors
def migrate_db(source: str, target: str, as_json: bool) -> None:
    """Move an instance to another database: papers, embeddings, users, sessions, votes, comments, collections,
    subscriptions, the outbox and the job queue, with their ids.

    The source is first brought to the latest schema; the target must be empty (PostgreSQL: create the database
    first). Afterwards every table's row count and a checksum of all its rows are compared on both sides; any
    difference fails the command (exit 1). Stop the web processes and workers first, then point
    PAPERFEED_DATABASE_URL at the target."""
    given = database_url(source)
    if given.get_backend_name() == "sqlite" and not Path(given.database or "").is_file():
        raise BadRequest(f"--from: there is no SQLite database at {given.database or '(memory)'}")
    store_from, store_to = open_store(source), open_store(target)
    if not isinstance(store_from, SqlStore) or not isinstance(store_to, SqlStore):
        raise BadRequest("both databases must be SQL databases")
    columns = [TextColumn("[bold]{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    tasks: dict[str, TaskID] = {}
    try:
        with Progress(*columns, console=err) as bar:

            def progress(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(table, total=total)
                bar.update(tasks[table], completed=done)

            checks = copy_store(store_from, store_to, progress)
    finally:
        store_from.close()
        store_to.close()
    bad = [c for c in checks if not c.ok]
    if as_json:
        emit_json([{"table": c.table, "rows": c.source_rows, "copied": c.target_rows, "ok": c.ok} for c in checks])
    else:
        table = Table("table", "rows", "copied", "checksum")
        for c in checks:
            table.add_row(c.table, f"{c.source_rows:,}", f"{c.target_rows:,}", "same" if c.ok else "[red]DIFFERS")
        out.print(table)
    if bad:
        raise PaperfeedError(f"the copy differs from the source in {', '.join(c.table for c in bad)}")
    err.print(f"Copied and verified {sum(c.source_rows for c in checks):,} rows in {len(checks)} tables.")
