"""What every `paperfeed` command shares: the Context (settings, and the store and search engine built from them
on first use), the error translation, and the decorator that hands the Context to a command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.text import Text

from paperfeed import feed
from paperfeed.cli_render import err
from paperfeed.config import Settings
from paperfeed.errors import BadRequest, PaperfeedError
from paperfeed.ingest.fetch import PoliteClient
from paperfeed.search.engine import SearchEngine
from paperfeed.services import Services
from paperfeed.store import Store

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """What every command gets: the settings, and the Services built from them (each object on first use)."""

    def __init__(self, settings: Settings, config_file: str | None = None) -> None:
        self.settings, self.config_file = settings, config_file
        self.services = Services.build(settings)

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def engine(self) -> SearchEngine:
        """The search engine over the store (indexes under the configured index folder)."""
        return self.services.engine

    def index(self) -> None:
        """Bring the keyword index up to date (after an import), saying how many papers it took in."""
        added = feed.index_papers(self.engine)
        if added:
            err.print(f"Keyword index: {added:,} papers indexed.")

    def ready_store(self) -> Store:
        """The store, initialised (migrations applied) so that writes can start."""
        self.store.migrate()
        return self.store

    def client(self, *, max_retries: int | None = None, timeout: float | None = None) -> PoliteClient:
        return self.services.arxiv_client(max_retries=max_retries, timeout=timeout)

    def close(self) -> None:
        self.services.close()


def handle_errors(command: F) -> F:
    """Translate paperfeed's typed errors into one CLI message and exit code (2 bad input, 1 otherwise)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BadRequest as exc:
            err.print(Text(f"Error: {exc.message}", style="red"))
            sys.exit(2)
        except PaperfeedError as exc:
            err.print(Text(f"Error: {exc.message}", style="red"))
            sys.exit(1)
        except KeyboardInterrupt:
            err.print("Interrupted. Run the same command again to resume where the last batch ended.")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


pass_context = click.make_pass_decorator(Context)
