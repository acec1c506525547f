"""The store interface for what leads onward from a paper: what its upvoters also upvoted, and the public
collections it is in."""

from __future__ import annotations

import abc

from paperfeed.models import Collection, Paper


class RelatedStore(abc.ABC):
    @abc.abstractmethod
    def also_upvoted(self, arxiv_id: str, limit: int = 5) -> list[tuple[Paper, int]]:
        """Papers upvoted by readers who upvoted ``arxiv_id``, with how many of them did, most first (ties:
        the newer paper first); empty for an unknown paper."""

    @abc.abstractmethod
    def collections_with(self, arxiv_id: str, limit: int = 10) -> list[Collection]:
        """The public collections that hold ``arxiv_id``, the largest first."""
