"""The one place that builds paperfeed's working objects from Settings: the store, the embedder and search
engine, the recommender, arXiv clients, the mail settings and the job worker.

Only the edges call it: the CLI (``cli_context.Context``), the web app's factory (``web/app.py``) and the
worker command. Everything below them receives these objects as arguments and never reads Settings itself.
Each object is made on first use, so a command that only reads the store never loads the MiniLM model, and
:meth:`Services.close` releases whatever was made (the database pool, the search thread pool).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cached_property

from paperfeed.config import Settings
from paperfeed.digest.compose import MailSettings
from paperfeed.digest.config import mail_settings
from paperfeed.follows import Picks
from paperfeed.ingest.fetch import PoliteClient
from paperfeed.ingest.pipeline import fetch_one
from paperfeed.models import Paper
from paperfeed.recommend.serve import ForYou
from paperfeed.search.embed import Embedder
from paperfeed.search.embed_job import CHUNK_KIND
from paperfeed.search.engine import SearchEngine
from paperfeed.search.give_way import ReaderActivity
from paperfeed.search.static_embed import StaticEmbedder
from paperfeed.store import Store, open_store
from paperfeed.tasks import JobSettings, handlers, job_settings, jobs_in_process, schedule
from paperfeed.worker import Worker


class Services:
    """What a paperfeed process runs on, built from one Settings (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._worker: Worker | None = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        return cls(settings)

    @cached_property
    def store(self) -> Store:
        return open_store(self.settings.database_url)

    @cached_property
    def embedder(self) -> Embedder:
        s = self.settings
        return Embedder(s.embed_precision, query_precision=s.query_precision, device=s.embed_device)

    @cached_property
    def engine(self) -> SearchEngine:
        s = self.settings
        first = StaticEmbedder(s.models_dir) if s.first_tier else None
        return SearchEngine(self.store, s.search_dir, self.embedder, exact_below=s.exact_search_below, first_tier=first,
                            graph_dtype=s.vector_graph_dtype, keyword_shards=s.keyword_shards)  # fmt: skip

    @cached_property
    def readers(self) -> ReaderActivity:
        """This machine's web activity (a marker in the search folder), which MiniLM embedding and enrichment
        give way to."""
        return ReaderActivity(self.settings.search_dir)

    @cached_property
    def enricher(self) -> StaticEmbedder:
        """The static model enrichment embeds key-phrase candidates and sentences with: the first vector tier's
        (one model in memory), or its own when that tier is switched off."""
        return self.engine.first_tier or StaticEmbedder(self.settings.models_dir)

    @cached_property
    def foryou(self) -> ForYou:
        return ForYou(self.store, self.engine)

    @cached_property
    def picks(self) -> Picks:
        """Readers' "for you" picks for their personal feeds, kept a while in this process."""
        return Picks(self.foryou)

    @cached_property
    def mail(self) -> MailSettings:
        return mail_settings(self.settings)

    @cached_property
    def jobs(self) -> JobSettings:
        return job_settings(self.settings)

    @property
    def jobs_in_process(self) -> bool:
        """Whether `paperfeed serve` runs the background jobs itself (see Settings.jobs_in_process)."""
        return jobs_in_process(self.settings)

    def arxiv_client(self, *, max_retries: int | None = None, timeout: float | None = None) -> PoliteClient:
        """A new HTTP client for arXiv with the configured manners (user agent, spacing, retries)."""
        s = self.settings
        return PoliteClient(
            user_agent=s.user_agent, min_interval=s.request_interval, timeout=timeout or s.http_timeout,
            max_retries=s.max_retries if max_retries is None else max_retries, max_retry_wait=s.max_retry_wait,
        )  # fmt: skip

    def github_client(self) -> PoliteClient:
        """A new HTTP client for GitHub's API (the stars job): one request a second, no retries (the job stops at
        the rate limit and the next round goes on), the token when one is set."""
        s = self.settings
        headers = {"Accept": "application/vnd.github+json"}
        if s.github_token:
            headers["Authorization"] = f"Bearer {s.github_token}"
        return PoliteClient(
            user_agent=s.user_agent, min_interval=1.0, timeout=s.http_timeout, max_retries=0, headers=headers
        )

    def fetch_paper(self, arxiv_id: str) -> Paper | None:
        """One paper from the arXiv API, for a reader's submission: a single request, a short retry budget."""
        s = self.settings
        client = PoliteClient(
            user_agent=s.user_agent, min_interval=0, timeout=s.http_timeout, max_retries=1, max_retry_wait=10
        )
        with client:
            return fetch_one(client, s.arxiv_api_url, arxiv_id)

    def worker(self, kinds: Collection[str] = (), *, share_cores: bool = False) -> Worker:
        """The job worker over this process's store, engine and recommender, running ``kinds`` (all when
        empty), sharing this machine's cores with helper processes when ``share_cores`` (see
        :func:`paperfeed.worker_pool.run_auto`); made once, on first call."""
        if self._worker is None:
            github = self.github_client if self.settings.github_stars_every_minutes else None
            every = handlers(
                self.store, self.engine, self.foryou, self.jobs, self.arxiv_client, self._stopping, self.enricher,
                github, self.readers, share_cores,
            )  # fmt: skip
            wanted = set(kinds) | ({CHUNK_KIND} if "embed" in kinds else set())  # "embed" plans chunks and runs them
            chosen = {kind: run for kind, run in every.items() if not kinds or kind in wanted}
            self._worker = Worker(self.store, chosen, schedule(self.jobs))
        return self._worker

    def _stopping(self) -> bool:
        return self._worker is not None and self._worker.stopping

    def close(self) -> None:
        """Release what was made: the search thread pool, then the database connections."""
        if "engine" in self.__dict__:
            self.engine.close()
        if "store" in self.__dict__:
            self.store.close()
