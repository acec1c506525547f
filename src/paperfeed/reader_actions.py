"""What readers do with papers, shared by the pages, the API and the CLI: upvote, comment, submit, collect;
and what admins undo. Every function checks who may do it and raises typed errors that name the problem."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import nh3
from markdown_it import MarkdownIt

from paperfeed import feed
from paperfeed.errors import BadRequest, Conflict, Forbidden, NotFound
from paperfeed.models import Collection, Comment, Paper, User
from paperfeed.store import Store

MAX_COMMENT = 20_000
COMMENTS_PER_PAGE = 50
MAX_COLLECTION_NAME = 80
PAGE_SIZE = 30
# What sanitised comment HTML may contain: Markdown's output, no images, no raw HTML from the writer.
_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "hr"}

FetchPaper = Callable[[str], Paper | None]  # arXiv id -> its metadata from arXiv, None when arXiv has none


@functools.cache
def _markdown() -> MarkdownIt:
    # CommonMark with raw HTML switched off: a "<script>" in a comment is text, then nh3 checks the result
    return MarkdownIt("commonmark", {"html": False, "linkify": True}).enable("linkify").disable("image")


def render_markdown(body: str) -> str:
    """A comment as safe HTML: Markdown rendered without raw HTML, then sanitised (only _TAGS, http(s) and
    mailto links, which get rel="nofollow noopener noreferrer")."""
    html = _markdown().render(body)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class VoteResult:
    arxiv_id: str
    upvotes: int
    upvoted: bool


def vote(store: Store, user: User, raw_id: str, up: bool) -> VoteResult:
    """Upvote a paper, or take the upvote back; doing either twice changes nothing."""
    arxiv_id = feed.arxiv_id(raw_id)
    return VoteResult(arxiv_id, store.set_vote(user.id, arxiv_id, up, _now()), up)


def comment(store: Store, user: User, raw_id: str, body: str) -> Comment:
    body = body.strip()
    if not body:
        raise BadRequest("body is empty: write a comment")
    if len(body) > MAX_COMMENT:
        raise BadRequest(f"body must be at most {MAX_COMMENT:,} characters ({len(body):,} given)")
    # rendered once, here: every later view shows the stored HTML
    return store.add_comment(user.id, feed.arxiv_id(raw_id), body, _now(), html=render_markdown(body))


def html_of(comment: Comment) -> str:
    """A comment's sanitised HTML: the stored one, or (for comments older than that) rendered now."""
    return comment.html or render_markdown(comment.body)


@dataclass(frozen=True, slots=True)
class Thread:
    """One page of a paper's discussion, oldest first."""

    comments: list[Comment]
    total: int
    page: int
    pages: int


def comments(
    store: Store, raw_id: str, viewer: User | None, page: int = 1, per_page: int = COMMENTS_PER_PAGE
) -> Thread:
    """A page of a paper's thread; admins also see hidden comments. BadRequest for a page past the last."""
    arxiv_id, hidden = feed.arxiv_id(raw_id), bool(viewer and viewer.is_admin)
    total = store.count_comments(arxiv_id, include_hidden=hidden)
    pages = max(1, -(-total // per_page))
    if not 1 <= page <= pages:
        raise BadRequest(f"comments page must be between 1 and {pages}")
    found = store.list_comments(arxiv_id, include_hidden=hidden, limit=per_page, offset=(page - 1) * per_page)
    return Thread(found, total, page, pages)


def _admin(user: User) -> None:
    if not user.is_admin:
        raise Forbidden("only an admin can do this")


def hide_comment(store: Store, user: User, comment_id: int, hidden: bool) -> Comment:
    _admin(user)
    return store.set_comment_hidden(comment_id, hidden)


def remove_paper(store: Store, user: User, raw_id: str, reason: str | None = None) -> str:
    """Delete a paper with its votes and comments; imports will not bring it back."""
    _admin(user)
    arxiv_id = feed.arxiv_id(raw_id)
    store.remove_paper(arxiv_id, user.name, (reason or "").strip()[:500] or None, _now())
    return arxiv_id


def submit(store: Store, fetch: FetchPaper, user: User, raw_id: str) -> Paper:
    """Put a paper on the daily list as ``user``'s submission, fetching its metadata from arXiv when this
    instance does not have it yet. Conflict when it was submitted before or an admin removed it."""
    arxiv_id = feed.arxiv_id(raw_id)
    if store.removed_ids([arxiv_id]):
        raise Conflict(f"paper {arxiv_id} was removed from this instance by an admin")
    if store.get_paper(arxiv_id) is None:
        fetched = fetch(arxiv_id)
        if fetched is None:
            raise NotFound(f"arXiv has no paper {arxiv_id}: check the id")
        store.upsert_papers([fetched])
    return store.mark_submitted(arxiv_id, user.name, _now())


@dataclass(frozen=True, slots=True)
class UserPage:
    user: User
    upvoted: list[Paper]
    submitted: list[Paper]
    collections: list[Collection]


def user_page(store: Store, name: str, viewer: User | None, limit: int = PAGE_SIZE) -> UserPage:
    """A reader's public page: what they upvoted and submitted, and their collections (private ones only for
    themselves)."""
    user = store.get_user(name)
    if user is None:
        raise NotFound(f"there is no user called {name!r}")
    own = viewer is not None and viewer.id == user.id
    return UserPage(
        user,
        store.user_papers(user.id, "upvoted", limit, 0),
        store.user_papers(user.id, "submitted", limit, 0),
        store.list_collections(user.name, include_private=own),
    )


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60]
    return slug or "list"


def create_collection(store: Store, user: User, name: str, public: bool) -> Collection:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_COLLECTION_NAME:
        raise BadRequest(f"name must be 1 to {MAX_COLLECTION_NAME} characters")
    return store.create_collection(user.id, name, slugify(name), public, _now())


def collection(store: Store, owner: str, slug: str, viewer: User | None) -> tuple[Collection, list[Paper]]:
    """A collection and its papers; a private one is visible to its owner only (others get NotFound)."""
    found = store.get_collection(owner, slug)
    if found is None or not (found.public or (viewer is not None and viewer.name.lower() == found.owner.lower())):
        raise NotFound(f"{owner} has no collection {slug!r} you can see")
    return found, store.collection_papers(found.id)


def own_collection(store: Store, user: User, owner: str, slug: str) -> Collection:
    found, _ = collection(store, owner, slug, user)
    if found.owner.lower() != user.name.lower():
        raise Forbidden("only its owner can change a collection")
    return found


def set_in_collection(store: Store, user: User, owner: str, slug: str, raw_id: str, present: bool) -> Collection:
    found = own_collection(store, user, owner, slug)
    store.set_in_collection(found.id, feed.arxiv_id(raw_id), present, _now())
    return found


def delete_collection(store: Store, user: User, owner: str, slug: str) -> None:
    store.delete_collection(own_collection(store, user, owner, slug).id)


MAX_INTERESTS = 2000


def dismiss(store: Store, user: User, raw_id: str, undo: bool = False) -> str:
    """ "Not interested": the paper never comes back in the user's recommendations (``undo`` takes it back)."""
    arxiv_id = feed.arxiv_id(raw_id)
    store.set_dismissed(user.id, arxiv_id, not undo, _now())
    return arxiv_id


def set_interests(store: Store, user: User, text: str) -> str:
    """The user's own words about what they want to read, used before (and beside) their upvotes."""
    text = " ".join(text.split())
    if len(text) > MAX_INTERESTS:
        raise BadRequest(f"interests must be at most {MAX_INTERESTS} characters")
    store.set_interests(user.id, text)
    return text
