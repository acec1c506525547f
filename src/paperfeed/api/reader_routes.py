"""Native JSON routes for what the Hugging Face Papers API lacks: upvotes, comments, submissions, user pages,
collections, moderation. Writes need a token (``Authorization: Bearer``) or a browser session with its CSRF
token; each handler parses, calls paperfeed.reader_actions, and shapes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from paperfeed import export, library, reader_actions
from paperfeed.api.auth import api_writer, caller
from paperfeed.api.schemas import collection_dict, comment_dict, hf_paper
from paperfeed.digest import subscribe as subs
from paperfeed.errors import Unauthorized
from paperfeed.http_edge import int_param, seed, seed_ask, site_of, store_of
from paperfeed.http_edge import subscribe as subscribe_request

router = APIRouter(prefix="/api")


class CommentIn(BaseModel):
    body: str = Field(max_length=reader_actions.MAX_COMMENT, description="Markdown; rendered through a sanitiser.")


class CommentChange(BaseModel):
    hidden: bool


class SubmitIn(BaseModel):
    id: str = Field(max_length=300, description="arXiv id or URL")


class SubscriptionIn(BaseModel):
    email: str = Field(max_length=320)
    frequency: str = "daily"
    weekday: int = 0
    content: str = "trending"
    categories: str = ""
    keywords: str = ""
    max_papers: int = 10
    min_upvotes: int = 0
    confidence: float | None = Field(None, description="for_you only: at most this share not for you (0.1-0.3)")
    explore: bool = True


class CollectionIn(BaseModel):
    name: str = Field(max_length=reader_actions.MAX_COLLECTION_NAME)
    public: bool = False


@router.get("/whoami", summary="The user a token or session belongs to (native)")
def whoami(request: Request) -> dict[str, Any]:
    user = caller(request)
    return {"name": user.name, "isAdmin": user.is_admin} if user else {"name": None, "isAdmin": False}


@router.post("/papers/{arxiv_id}/upvote", summary="Upvote a paper (native; idempotent)")
def upvote(request: Request, arxiv_id: str) -> dict[str, Any]:
    result = reader_actions.vote(store_of(request), api_writer(request), arxiv_id, True)
    return {"id": result.arxiv_id, "upvotes": result.upvotes, "upvoted": result.upvoted}


@router.delete("/papers/{arxiv_id}/upvote", summary="Take an upvote back (native; idempotent)")
def unvote(request: Request, arxiv_id: str) -> dict[str, Any]:
    result = reader_actions.vote(store_of(request), api_writer(request), arxiv_id, False)
    return {"id": result.arxiv_id, "upvotes": result.upvotes, "upvoted": result.upvoted}


@router.get("/papers/{arxiv_id}/comments", summary="A paper's comment thread, a page at a time (native)")
def list_comments(
    request: Request, response: Response, arxiv_id: str, page: str | None = None, limit: str | None = None
) -> list[dict[str, Any]]:
    """Oldest first; ``X-Total-Count`` holds the thread's size and ``Link`` (rel="next") the next page."""
    size = int_param(limit, "limit", reader_actions.COMMENTS_PER_PAGE, 1, 100)
    number = int_param(page, "page", 1, 1, 100_000)
    thread = reader_actions.comments(store_of(request), arxiv_id, caller(request), page=number, per_page=size)
    response.headers["X-Total-Count"] = str(thread.total)
    if thread.page < thread.pages:
        response.headers["Link"] = f'<{request.url.path}?page={thread.page + 1}&limit={size}>; rel="next"'
    return [comment_dict(c, reader_actions.html_of(c)) for c in thread.comments]


@router.post("/papers/{arxiv_id}/comments", status_code=201, summary="Comment on a paper (native)")
def add_comment(request: Request, arxiv_id: str, given: CommentIn) -> dict[str, Any]:
    made = reader_actions.comment(store_of(request), api_writer(request), arxiv_id, given.body)
    return comment_dict(made, reader_actions.html_of(made))


@router.put("/comments/{comment_id}", summary="Hide or show a comment (admins; native)")
def change_comment(request: Request, comment_id: int, given: CommentChange) -> dict[str, Any]:
    changed = reader_actions.hide_comment(store_of(request), api_writer(request), comment_id, given.hidden)
    return comment_dict(changed, reader_actions.html_of(changed))


@router.delete("/papers/{arxiv_id}", status_code=204, summary="Remove a paper (admins; native)")
def remove_paper(request: Request, arxiv_id: str, reason: str = "") -> Response:
    reader_actions.remove_paper(store_of(request), api_writer(request), arxiv_id, reason)
    return Response(status_code=204)


@router.post("/submit", status_code=201, summary="Submit a paper to the daily list (native)")
def submit(request: Request, given: SubmitIn) -> dict[str, Any]:
    paper = reader_actions.submit(
        store_of(request), site_of(request).services.fetch_paper, api_writer(request), given.id
    )
    return hf_paper(paper)


@router.get("/users/{name}", summary="A reader's upvoted and submitted papers and collections (native)")
def user(request: Request, name: str) -> dict[str, Any]:
    page = reader_actions.user_page(store_of(request), name, caller(request))
    return {
        "name": page.user.name,
        "upvoted": [hf_paper(p) for p in page.upvoted],
        "submitted": [hf_paper(p) for p in page.submitted],
        "collections": [collection_dict(c) for c in page.collections],
    }


@router.post("/collections", status_code=201, summary="Create a collection (native)")
def create_collection(request: Request, given: CollectionIn) -> dict[str, Any]:
    return collection_dict(
        reader_actions.create_collection(store_of(request), api_writer(request), given.name, given.public)
    )


@router.get("/users/{name}/collections/{slug}", summary="A collection and its papers (native)")
def collection(request: Request, name: str, slug: str) -> dict[str, Any]:
    found, papers = reader_actions.collection(store_of(request), name, slug, caller(request))
    return {**collection_dict(found), "papers": [hf_paper(p) for p in papers], "bibtex": export.bibtex(papers)}


@router.put("/users/{name}/collections/{slug}/papers/{arxiv_id}", summary="Add a paper to a collection (native)")
def collect(request: Request, name: str, slug: str, arxiv_id: str) -> dict[str, Any]:
    found = reader_actions.set_in_collection(store_of(request), api_writer(request), name, slug, arxiv_id, True)
    return collection_dict(store_of(request).get_collection(found.owner, found.slug) or found)


@router.delete("/users/{name}/collections/{slug}/papers/{arxiv_id}", summary="Take a paper out (native)")
def uncollect(request: Request, name: str, slug: str, arxiv_id: str) -> dict[str, Any]:
    found = reader_actions.set_in_collection(store_of(request), api_writer(request), name, slug, arxiv_id, False)
    return collection_dict(store_of(request).get_collection(found.owner, found.slug) or found)


@router.delete("/users/{name}/collections/{slug}", status_code=204, summary="Delete a collection (native)")
def delete_collection(request: Request, name: str, slug: str) -> Response:
    reader_actions.delete_collection(store_of(request), api_writer(request), name, slug)
    return Response(status_code=204)


class InterestsIn(BaseModel):
    interests: str = Field(max_length=reader_actions.MAX_INTERESTS)


@router.get("/for_you", summary="Recommendations for the caller, each with its reason (native)")
def for_you(
    request: Request, window: str = "week", limit: str | None = None, hide_read: str | None = None
) -> list[dict[str, Any]]:
    """``hide_read=1`` leaves out the papers the caller marked read."""
    user = caller(request)
    if user is None:
        raise Unauthorized("log in, or send Authorization: Bearer <token>, to get recommendations")
    size = int_param(limit, "limit", 20, 1, 100)
    picks = site_of(request).services.foryou.recommend(user, window=window, limit=size)
    if hide_read == "1":
        kept, _ = library.unread(store_of(request), user, [r.paper for r in picks])
        picks = [r for r in picks if r.paper in kept]
    return [{**hf_paper(r.paper), "score": round(r.score, 4), "reason": r.reason} for r in picks]


@router.post("/for_you/seed", summary="Cold start: categories, arXiv ids or a BibTeX / RIS file as seeds (native)")
async def seed_papers(request: Request) -> dict[str, Any]:
    """A multipart form (or urlencoded) with ``categories`` (e.g. ``cs.CV math.PR``), ``ids`` (arXiv ids or URLs,
    one or more per line) and ``file`` (a BibTeX or RIS export). The papers found become a private collection."""
    ask = await seed_ask(await request.form())
    report = await run_in_threadpool(lambda: seed(request, api_writer(request), ask))
    made = report.collection
    return {"categories": report.categories, "found": report.found, "missing": report.missing,
            "collection": collection_dict(made) if made is not None else None}  # fmt: skip


@router.post("/papers/{arxiv_id}/dismiss", summary="Not interested: never recommend this paper again (native)")
def dismiss(request: Request, arxiv_id: str) -> dict[str, Any]:
    return {"id": reader_actions.dismiss(store_of(request), api_writer(request), arxiv_id), "dismissed": True}


@router.delete("/papers/{arxiv_id}/dismiss", summary="Take a 'not interested' back (native)")
def undismiss(request: Request, arxiv_id: str) -> dict[str, Any]:
    return {
        "id": reader_actions.dismiss(store_of(request), api_writer(request), arxiv_id, undo=True),
        "dismissed": False,
    }


@router.put("/me/interests", summary="Your interests in your own words, for recommendations (native)")
def interests(request: Request, given: InterestsIn) -> dict[str, Any]:
    return {"interests": reader_actions.set_interests(store_of(request), api_writer(request), given.interests)}


@router.post("/subscriptions", status_code=202, summary="Subscribe an address to the digest (native; double opt-in)")
def subscribe(request: Request, given: SubscriptionIn) -> dict[str, Any]:
    """Queues a confirmation mail for a new address (nothing else is sent until its link is opened). An address
    that already subscribes is not changed: it is mailed its manage link (at most once an hour), and the answer
    is the same either way, so it never tells whether an address subscribes. Rate limited per client."""
    prefs = subs.preferences(
        given.frequency,
        given.weekday,
        given.categories,
        given.keywords,
        given.max_papers,
        given.min_upvotes,
        given.content,
        given.confidence,
        given.explore,
    )
    sub = subscribe_request(request, given.email, prefs, caller(request))
    return {"email": sub.email, "frequency": sub.frequency, "confirmed": sub.confirmed}
