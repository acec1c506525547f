"""The one typed settings object.

Values come, highest priority first, from: explicit overrides (CLI options), ``PAPERFEED_*`` environment
variables, an optional config file in ``KEY=value`` form (the same file works as a systemd ``EnvironmentFile``),
then the defaults below. Nothing is built at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from paperfeed.errors import BadRequest

DEFAULT_CONFIG_FILE = "paperfeed.env"
DEFAULT_SEED_FILE = "../shared/data/arxiv/arxiv_daily.jsonl.gz"


class Settings(BaseSettings):
    """Every knob paperfeed has, with its default and what it does."""

    model_config = SettingsConfigDict(env_prefix="PAPERFEED_", extra="ignore", validate_default=True)

    data_dir: Path = Field(Path("./var"), description="Folder for the database file, indexes and caches.")
    database_url: str = Field(
        "",
        description="Where papers are stored: sqlite:///path or postgresql://...; "
        "default sqlite:///<data_dir>/paperfeed.db (./var/paperfeed.db)",
    )
    seed_file: Path = Field(
        Path(DEFAULT_SEED_FILE),
        description="Papers file imported by `paperfeed update` when arXiv cannot be reached.",
    )
    categories: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["cs.CV", "cs.CL", "cs.AI", "cs.LG"],
        description="arXiv categories `paperfeed update` fetches (comma-separated in the environment); `*` or"
        " empty: every category of arXiv.",
    )
    arxiv_api_url: str = Field("https://export.arxiv.org/api/query", description="arXiv Atom API endpoint.")
    oai_url: str = Field("https://oaipmh.arxiv.org/oai", description="arXiv OAI-PMH endpoint.")
    request_interval: float = Field(3.0, ge=0, description="Seconds between two requests to arXiv (politeness).")
    http_timeout: float = Field(30.0, gt=0, description="Seconds before one HTTP request times out.")
    max_retries: int = Field(5, ge=0, le=20, description="Retries of a request after 5xx, 429 or a timeout.")
    max_retry_wait: float = Field(600.0, ge=0, description="Longest wait (s) honoured from a Retry-After header.")
    contact_email: str | None = Field(None, description="Added to the User-Agent so arXiv can reach the admin.")
    batch_size: int = Field(1000, ge=1, le=50_000, description="Papers written per database transaction.")
    index_dir: Path | None = Field(
        None, description="Folder for the search indexes (keyword, vectors); default <data_dir>/index."
    )
    first_tier: bool = Field(
        True,
        description="Give every paper a provisional vector from a static model distilled from MiniLM first (seconds"
        " for 100,000 papers), so semantic search covers everything within minutes; MiniLM replaces them as it goes.",
    )
    model_dir: Path | None = Field(
        None,
        description="Folder for models made on this machine (the distilled first tier); default <data_dir>/models.",
    )
    embed_precision: Literal["auto", "bf16", "fp32", "int8"] = Field(
        "auto",
        description="Embedding arithmetic: auto (the first start's self-check picks the fastest of fp32, bf16 where"
        " the CPU has bf16 matrix units, and int8 when its vectors agree with fp32's), or bf16, fp32 or int8.",
    )
    query_precision: Literal["auto", "bf16", "fp32", "int8"] = Field(
        "auto",
        description="Query embedding arithmetic: auto is bf16 where the CPU has bf16 units, else fp32 (never int8,"
        " which lost hybrid nDCG@10 on CACM), and fp32 for semantic-only searches; bf16, fp32 or int8 for every query.",
    )
    embed_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where workers embed documents: auto (a CUDA GPU when torch sees one, in fp16 and batches of 256;"
        " else the CPU), cpu or cuda. Queries are always embedded on the CPU.",
    )
    vector_graph_dtype: Literal["f16", "i8"] = Field(
        "i8",
        description="The HNSW graph's copy of the vectors: i8 (three candidates a result, re-scored exactly against the"
        " float16 vectors: recall@20 0.987 at 120k, 0.58x the graph of f16), or f16 (docs/decisions.md).",
    )
    exact_search_below: int = Field(
        20_000, ge=0, description="Vector search is exact below this many papers, approximate (HNSW) above."
    )
    keyword_shards: int = Field(
        1, ge=1, le=16,
        description="Keyword index shards, searched in parallel threads: 1 for most instances; a few (at most the"
        " cores) for millions of papers (2.7M, two cores: keyword p99 25.0 -> 20.6 ms with 2; docs/admin.md).",
    )  # fmt: skip

    secret_key: str = Field(
        "",
        description="Signs CSRF tokens; required by `paperfeed serve` (32+ random characters, never a default).",
        repr=False,
    )
    base_url: str = Field(
        "http://127.0.0.1:8000", description="Public address of this instance: links in mails point here."
    )
    mail_from: str = Field("paperfeed <digest@localhost>", description="From: of digest and confirmation mails.")
    smtp_host: str = Field("127.0.0.1", description="SMTP server that delivers the mails.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (587 for STARTTLS, 465 for implicit TLS).")
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", description="none, starttls or tls.")
    smtp_username: str | None = Field(None, description="SMTP login, when the server asks for one.")
    smtp_password: str | None = Field(None, description="SMTP password.", repr=False)
    smtp_ca_file: Path | None = Field(None, description="CA certificate file, when the SMTP server's is private.")
    smtp_timeout: float = Field(30.0, gt=0, description="Seconds before an SMTP exchange times out.")
    mails_per_minute: int = Field(600, ge=1, description="Most mails handed to the SMTP server in a minute.")
    mail_claim_seconds: float = Field(
        600.0, gt=0, description="A mail claimed by a sender that died is sent again after this many seconds."
    )
    digest_schedule: bool = Field(True, description="Compose the digests daily at digest_hour and send them (a job).")
    digest_hour: int = Field(7, ge=0, le=23, description="UTC hour at which the day's digests go out.")
    jobs_in_process: bool | None = Field(
        None,
        description="Run the background jobs (update, embed, refit, digests) inside `paperfeed serve`. Default: yes "
        "on SQLite; no on PostgreSQL, where `paperfeed worker` processes run them.",
    )
    update_every_minutes: int = Field(60, ge=0, description="Fetch new arXiv papers this often (0: never).")
    embed_every_minutes: int = Field(10, ge=0, description="Embed new papers this often (0: only after updates).")
    github_stars_every_minutes: int = Field(
        0, ge=0, le=100_000,
        description="Look up the GitHub stars of papers' code repositories this often (0, the default: never). Uses"
        " GitHub's public API: 60 lookups an hour without github_token, 5,000 with one.",
    )  # fmt: skip
    webhook_allow_private: bool = Field(
        False,
        description="Let readers' webhooks reach loopback, private and link-local addresses (off: only the public"
        " internet, so a webhook cannot be pointed at this server's own network).",
    )
    github_api_url: str = Field("https://api.github.com", description="GitHub's REST API, for the stars job.")
    github_token: str | None = Field(None, description="A GitHub token for the stars job (optional).", repr=False)
    page_cache_seconds: float = Field(
        10.0, ge=0, description="How long anonymous feed pages are served from memory (0 turns the cache off)."
    )
    index_keep_seconds: float = Field(
        3.0, ge=0, le=3600,
        description="How often a web process takes new papers and vectors into its search indexes from a thread of"
        " its own, so that readers' queries find little to take in (0 turns it off; queries always catch up too).",
    )  # fmt: skip
    login_attempts_per_minute: int = Field(10, ge=1, description="Log-in attempts per client address a minute.")
    writes_per_minute: int = Field(30, ge=1, description="Votes, comments and submissions per user a minute.")
    signups_per_hour: int = Field(20, ge=1, description="New accounts per client address an hour.")
    account_login_failures: int = Field(
        5, ge=1, description="Failed log-ins to one account before it must wait (the wait doubles each time)."
    )
    trusted_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the site answers to (comma-separated); others get 400. Default: base_url's host, "
        "localhost, 127.0.0.1 and ::1. '*' accepts any (only behind a proxy that checks Host itself).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (comma-separated, e.g. 127.0.0.1,10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed. Default none: the peer's address is the client's.",
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a connection may idle or take to send its request headers (slow clients)."
    )

    @field_validator("categories", "trusted_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _split_categories(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir.as_posix()}/paperfeed.db"
        return self

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("base_url must be an http(s) address such as https://papers.example.org")
        return value.strip().rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
        return value

    @property
    def allowed_hosts(self) -> list[str]:
        """The Host header values the site answers to (see trusted_hosts)."""
        if self.trusted_hosts:
            return list(self.trusted_hosts)
        return list(dict.fromkeys([urlsplit(self.base_url).hostname or "localhost", "localhost", "127.0.0.1", "::1"]))

    @property
    def base_path(self) -> str:
        """The path part of base_url ('' at a domain's root): pages' own links start with it."""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def search_dir(self) -> Path:
        return self.index_dir or self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    @property
    def user_agent(self) -> str:
        contact = f"; mailto:{self.contact_email}" if self.contact_email else ""
        return f"paperfeed/0.1 (self-hosted research-paper feed{contact})"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from overrides > environment > config file > defaults.

    The config file is ``config_file``, else ``$PAPERFEED_CONFIG``, else ``./paperfeed.env`` when it exists.
    Overrides that are None are ignored, so CLI options left unset fall through to the environment.
    """
    path = config_file or os.environ.get("PAPERFEED_CONFIG")
    if path and not Path(path).is_file():
        raise BadRequest(f"config file {path} does not exist")
    env_file = Path(path) if path else Path(DEFAULT_CONFIG_FILE)
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        # _env_file is pydantic-settings' documented per-instance dotenv path (mypy does not see it)
        return Settings(_env_file=env_file if env_file.is_file() else None, **given)  # type: ignore[call-arg]
    except ValueError as exc:  # pydantic.ValidationError: name the setting
        raise BadRequest(f"invalid setting: {exc}") from exc
