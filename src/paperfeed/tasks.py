"""The tasks behind each job kind and their schedule (the queue is :mod:`paperfeed.store.queue`, the loop that
claims and runs jobs is :mod:`paperfeed.worker`): what `paperfeed worker` (and, on SQLite, `paperfeed serve`) runs.

- ``update``: fetch the configured categories' new papers from the arXiv API (hourly by default), then queue an
  ``embed`` job;
- ``embed``: give papers with no vector a provisional one, then queue the MiniLM backlog (papers with no
  embedding or a stale one) as ``embed-chunk`` jobs of EMBED_CHUNK papers (every few minutes);
- ``embed-chunk``: embed one chunk; every worker claims them in parallel, each chunk once, and only when no
  other kind of job is due;
- ``enrich``: compute code links, key phrases and the extracted summary of papers new or changed since their
  last enrichment (after each update, and every few minutes; the latest feed week first, then chunks of
  ENRICH_CHUNK, each queuing the next), which is also how an existing instance's papers are backfilled; beyond
  the latest week it waits while MiniLM chunks are queued, and the last chunk queues it;
- ``stars`` (only when Settings.github_stars_every_minutes is set): look up the GitHub stars of up to
  STARS_PER_ROUND code repositories, the never-looked-up first;
- ``alerts``: match the papers written since its last run against every reader's follows, and queue one webhook
  batch per reader (after each update, and every few minutes); ``send`` delivers those batches with the mail;
- ``refit``: fit the "for you" collective model and blend weights on this instance's own upvotes, collections
  and papers (daily), which every web process picks up within a minute;
- ``digest``: compose the day's digest editions into the outbox (daily from ``digest_hour``), then queue ``send``;
- ``send``: deliver what is due in the outbox (every minute, and at once after a confirmation mail is queued).

Each job is safe to run again: imports are upserts, embeddings and the outbox are idempotent per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx

from paperfeed.alerts.run import run_alerts
from paperfeed.alerts.webhooks import deliver as deliver_webhooks
from paperfeed.config import Settings
from paperfeed.digest.compose import MailSettings
from paperfeed.digest.config import mail_settings, smtp_settings
from paperfeed.digest.feedback import prune as prune_feedback
from paperfeed.digest.run import compose
from paperfeed.digest.send import SmtpSender, SmtpSettings, deliver
from paperfeed.enrich import METHOD as ENRICH_METHOD
from paperfeed.enrich import enrich_papers
from paperfeed.ingest.fetch import PoliteClient
from paperfeed.ingest.github import fetch_stars
from paperfeed.ingest.pipeline import update as update_feed
from paperfeed.ingest.pipeline import update_plan
from paperfeed.recommend.refit import refit
from paperfeed.recommend.serve import ForYou, digest_picks
from paperfeed.search.embed import TextEncoder
from paperfeed.search.embed_job import (
    CHUNK_KIND,
    choose_path,
    chunk_threads,
    chunks_pending,
    embed_latest_first,
    latest_week,
    plan_chunks,
    run_chunk,
)
from paperfeed.search.engine import SearchEngine
from paperfeed.search.give_way import GivingWay, Pacer, ReaderActivity
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.status import record_rate
from paperfeed.store import Store
from paperfeed.store.queue import Job
from paperfeed.worker import Handler, Periodic, Worker

EMBED_CHUNK = 5_000  # papers per embed job: one to three minutes on two cores
ENRICH_CHUNK = 20_000  # papers per enrich job: about half a minute
STARS_PER_ROUND = 50  # GitHub allows 60 unauthenticated lookups an hour
STARS_FRESH = timedelta(days=7)  # a repository's stars are looked up again after a week


@dataclass(frozen=True, slots=True)
class JobSettings:
    """What the jobs need, taken from Settings by the CLI or the web app's factory."""

    arxiv_api_url: str
    categories: tuple[str, ...]
    batch_size: int
    mail: MailSettings
    smtp: SmtpSettings
    mails_per_minute: int
    mail_claim: timedelta
    digest_schedule: bool
    digest_hour: int
    update_every: timedelta | None  # None: no periodic arXiv update
    embed_every: timedelta | None
    stars_every: timedelta | None = None  # None: GitHub stars are never looked up
    github_api_url: str = "https://api.github.com"
    webhook_allow_private: bool = False
    user_agent: str = "paperfeed"


def job_settings(s: Settings) -> JobSettings:
    return JobSettings(
        arxiv_api_url=s.arxiv_api_url, categories=tuple(s.categories), batch_size=s.batch_size,
        mail=mail_settings(s), smtp=smtp_settings(s), mails_per_minute=s.mails_per_minute,
        mail_claim=timedelta(seconds=s.mail_claim_seconds), digest_schedule=s.digest_schedule,
        digest_hour=s.digest_hour,
        update_every=timedelta(minutes=s.update_every_minutes) if s.update_every_minutes else None,
        embed_every=timedelta(minutes=s.embed_every_minutes) if s.embed_every_minutes else None,
        stars_every=timedelta(minutes=s.github_stars_every_minutes) if s.github_stars_every_minutes else None,
        github_api_url=s.github_api_url, webhook_allow_private=s.webhook_allow_private, user_agent=s.user_agent,
    )  # fmt: skip


def jobs_in_process(s: Settings) -> bool:
    """Whether `paperfeed serve` runs the jobs itself (default: on SQLite only)."""
    if s.jobs_in_process is not None:
        return s.jobs_in_process
    return s.database_url.startswith("sqlite")


def schedule(s: JobSettings) -> tuple[Periodic, ...]:
    # once a UTC day, due from midnight: a fixed later hour left a worker started before it with nothing to do
    plan = [Periodic("refit", every=timedelta(days=1))]
    if s.update_every is not None:
        plan.append(Periodic("update", every=s.update_every))
    if s.embed_every is not None:
        plan += [Periodic(kind, every=s.embed_every) for kind in ("embed", "enrich", "alerts")]
    if s.stars_every is not None:
        plan.append(Periodic("stars", every=s.stars_every))
    if s.digest_schedule:
        plan += [Periodic("digest", daily_after_hour=s.digest_hour), Periodic("send", every=timedelta(minutes=1))]
    return tuple(plan)


def handlers(
    store: Store, engine: SearchEngine, foryou: ForYou, s: JobSettings,
    client: Callable[[], AbstractContextManager[PoliteClient]], should_stop: Callable[[], bool] = lambda: False,
    enricher: StaticEmbedder | None = None, github: Callable[[], AbstractContextManager[PoliteClient]] | None = None,
    readers: ReaderActivity | None = None, share_cores: bool = False,
) -> dict[str, Handler]:  # fmt: skip
    """The job kinds this process can run, over its store, search engine and recommender (and ``enricher``, the
    static model that enrichment embeds phrases with; without one there is no ``enrich`` job; ``github``, a client for
    GitHub's API, for the ``stars`` job; ``readers``, this machine's web activity, which MiniLM embedding on the CPU
    and enrichment give way to; ``share_cores``: helper processes embed chunks beside this one, so its chunks take
    the self-check's threads per process, see :func:`chunk_threads`). Long jobs ask ``should_stop`` between steps
    (the worker was told to stop) and queue the rest of their work."""

    def minilm() -> TextEncoder:
        if readers is None or engine.embedder.device != "cpu":
            return engine.embedder
        return GivingWay(engine.embedder, Pacer(readers, should_stop))

    def update(job: Job) -> str:
        today = datetime.now(UTC).date()
        plan = update_plan(store, s.arxiv_api_url, s.categories, today)
        with client() as http:
            report = update_feed(store, http, plan, today, batch_size=s.batch_size)
        store.enqueue_job("embed", f"embed:after:{job.key}", {}, datetime.now(UTC))
        store.enqueue_job("enrich", f"enrich:after:{job.key}", {}, datetime.now(UTC))
        store.enqueue_job("alerts", f"alerts:after:{job.key}", {}, datetime.now(UTC))
        return f"{report.inserted} new, {report.updated} updated papers ({plan.since} to {plan.until})"

    def embed(job: Job) -> str:
        # First every paper without any vector gets a provisional one (thousands a second; the latest feed week
        # first), so that semantic search covers everything within minutes; then the latest week gets MiniLM
        # (a minute or so), and the rest of the MiniLM backlog is cut into chunks of EMBED_CHUNK papers, one job
        # each, which every worker (`paperfeed worker --processes N`, other machines on PostgreSQL) claims in
        # parallel, each exactly once; chunks yield to every other kind of job.
        said = []
        if engine.first_tier is not None and store.embedding_backlog(engine.first_tier.model_id, only_missing=True):
            engine.first_tier.prepare()
            first = embed_latest_first(store, engine.first_tier, should_stop=should_stop)
            said.append(f"{first.embedded:,} provisional vectors in {first.seconds:.1f} s; ")
        choose_path(store, engine.embedder)  # once per instance: the faster arithmetic on this CPU, remembered
        week = embed_latest_first(store, minilm(), everything=False, should_stop=should_stop,
                                  progress=lambda done: record_rate(store, done.rate, done.precision))  # fmt: skip
        if week.embedded:
            said.append(f"{week.embedded:,} papers of the latest feed week with MiniLM in {week.seconds:.1f} s; ")
        queued = plan_chunks(store, job.key, EMBED_CHUNK)
        left = store.embedding_backlog(engine.embedder.model_id)
        return "".join(said) + f"{queued} chunks of up to {EMBED_CHUNK:,} papers queued ({left:,} papers to embed)"

    def embed_chunk(job: Job) -> str:
        choose_path(store, engine.embedder)
        model = minilm()
        with chunk_threads(store, engine.embedder, share_cores):
            report = run_chunk(store, model, job.payload, f"{job.key}:rest:{uuid.uuid4().hex[:8]}",
                               should_stop=should_stop,
                               progress=lambda done: record_rate(store, done.rate, done.precision))  # fmt: skip
        stopped = " (stopped early: the rest is queued again)" if report.stopped else ""
        if not store.count_jobs(CHUNK_KIND).get("queued", 0):  # the last chunk: the enrichment that waited for it
            store.enqueue_job("enrich", f"enrich:after:{job.key}", {}, datetime.now(UTC))
        waited = model.waited if isinstance(model, GivingWay) else 0.0
        gave_way = f", {waited:.1f} s of it giving way to readers" if waited >= 0.05 else ""
        return f"{report.embedded} papers embedded in {report.seconds:.1f} s{gave_way}{stopped}"

    def enrich(job: Job) -> str:
        if enricher is None:
            return "no enrichment model in this process"
        # The latest feed week first (what readers open first); the rest of the backlog waits while MiniLM chunks
        # are queued, since vectors serve search, similar papers and "for you" for every paper (a new instance's
        # 120k papers: MiniLM for all about 8 minutes sooner), and it is done after the last chunk
        enricher.prepare()
        pacer = Pacer(readers, should_stop) if readers is not None else None
        week, said = latest_week(store), ""
        if week is not None:
            recent = enrich_papers(store, enricher, should_stop=should_stop, pacer=pacer, since=week)
            said = f"{recent.enriched:,} papers of the latest feed week enriched in {recent.seconds:.1f} s; "
            if recent.stopped:
                return f"{said}stopped early (the next enrich job carries on)"
            if chunks_pending(store):
                left = store.count_enrichment_backlog(ENRICH_METHOD)
                return f"{said}the rest ({left:,} papers) waits for the MiniLM backlog"
        report = enrich_papers(store, enricher, limit=ENRICH_CHUNK, should_stop=should_stop, pacer=pacer)
        if report.left > 0 and not report.stopped:
            store.enqueue_job("enrich", f"enrich:more:{uuid.uuid4().hex}", {}, datetime.now(UTC))
        gave_way = f", {pacer.waited:.1f} s giving way to readers" if pacer and pacer.waited >= 0.05 else ""
        return f"{said}{report.enriched:,} papers enriched in {report.seconds:.1f} s{gave_way} ({report.left:,} left)"

    def stars(job: Job) -> str:
        if github is None:
            return "GitHub stars are switched off"
        repos = store.stars_backlog(STARS_PER_ROUND, datetime.now(UTC) - STARS_FRESH)
        with github() as http:
            report = fetch_stars(http, s.github_api_url, repos, lambda k, n: store.save_stars(k, n, datetime.now(UTC)))
        limited = " (stopped at GitHub's rate limit)" if report.limited else ""
        return f"{report.checked} repositories looked up, {report.found} with stars{limited}"

    def refit_job(job: Job) -> str:
        return refit(store, engine)

    def digest(job: Job) -> str:
        day = date.fromisoformat(job.payload.get("day") or job.key.split(":", 1)[1])
        prune_feedback(store)  # "opened" records are kept OPENED_DAYS days
        report = compose(store, s.mail, day, personal=digest_picks(foryou))
        store.enqueue_job("send", f"send:after:{job.key}", {}, datetime.now(UTC))
        return f"{', '.join(report.editions) or 'no edition'}: {report.queued} mails queued"

    def send(job: Job) -> str:
        report = deliver(store, SmtpSender(s.smtp), per_minute=s.mails_per_minute, stale_after=s.mail_claim)
        with httpx.Client(timeout=10, follow_redirects=False, trust_env=False) as http:
            hooks = deliver_webhooks(store, http, allow_private=s.webhook_allow_private, user_agent=s.user_agent)
        said = f"{report.sent} sent, {report.retried} to retry, {report.failed} failed"
        if hooks.delivered or hooks.retried or hooks.failed:
            said += f"; webhooks: {hooks.delivered} delivered, {hooks.retried} to retry, {hooks.failed} failed"
        return said

    def alerts(job: Job) -> str:
        report = run_alerts(store, s.mail.base_url.rstrip("/"), should_stop=should_stop)
        if report.batches:
            store.enqueue_job("send", f"send:after:{job.key}", {}, datetime.now(UTC))
        return f"{report.papers:,} papers matched: {report.matches} new matches, {report.batches} webhook batches"

    jobs: dict[str, Handler] = {
        "update": update, "embed": embed, CHUNK_KIND: embed_chunk, "refit": refit_job, "digest": digest,
        "send": send, "alerts": alerts,
    }  # fmt: skip
    if github is not None:
        jobs["stars"] = stars
    return jobs | ({"enrich": enrich} if enricher is not None else {})


def send_soon(store: Store, worker: Worker | None = None) -> None:
    """Queue a delivery round now (a confirmation mail is waiting) for whichever worker is free first, and wake
    this process's own worker when it has one."""
    store.enqueue_job("send", f"send:now:{uuid.uuid4().hex}", {}, datetime.now(UTC))
    if worker is not None:
        worker.wake()
