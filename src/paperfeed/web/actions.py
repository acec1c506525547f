"""Form posts that change papers: upvote, comment, submit, and the admin's hide and remove. Every one is a POST
with a checked CSRF token, needs a logged-in reader, counts against the write rate limit, and answers with a
redirect (post/redirect/get) so a reload never repeats it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed import reader_actions
from paperfeed.errors import PaperfeedError
from paperfeed.http_edge import counted_write, site_of, store_of
from paperfeed.models import User
from paperfeed.web.deps import CheckedForm, field, local_path, require_user, viewer
from paperfeed.web.pages import render

router = APIRouter()


def writer(request: Request) -> User:
    """The logged-in reader, within their write rate limit."""
    return counted_write(request, require_user(request))


def back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.post("/papers/{arxiv_id}/upvote")
def upvote(request: Request, arxiv_id: str, form: CheckedForm) -> Response:
    """Back to ``next`` (a list the card was on) when it is a path on this site, else to the paper."""
    result = reader_actions.vote(store_of(request), writer(request), arxiv_id, field(form, "up", "1") != "0")
    return back(local_path(field(form, "next"), f"/papers/{result.arxiv_id}#votes"))


@router.post("/papers/{arxiv_id}/comments")
def add_comment(request: Request, arxiv_id: str, form: CheckedForm) -> Response:
    made = reader_actions.comment(store_of(request), writer(request), arxiv_id, field(form, "body"))
    return back(f"/papers/{made.arxiv_id}#comment-{made.id}")


@router.post("/comments/{comment_id}/hide")
def hide_comment(request: Request, comment_id: int, form: CheckedForm) -> Response:
    hidden = field(form, "hidden", "1") != "0"
    changed = reader_actions.hide_comment(store_of(request), writer(request), comment_id, hidden)
    return back(f"/papers/{changed.arxiv_id}#comment-{changed.id}")


@router.post("/papers/{arxiv_id}/remove")
def remove_paper(request: Request, arxiv_id: str, form: CheckedForm) -> Response:
    reader_actions.remove_paper(store_of(request), writer(request), arxiv_id, field(form, "reason"))
    return back("/")


@router.get("/submit", response_class=HTMLResponse)
def submit_form(request: Request) -> Response:
    if viewer(request) is None:
        return back("/login?next=/submit")
    return render(request, "submit.html", form={"id": ""})


@router.post("/submit", response_class=HTMLResponse)
def submit(request: Request, form: CheckedForm) -> Response:
    raw = field(form, "id")
    try:
        paper = reader_actions.submit(store_of(request), site_of(request).services.fetch_paper, writer(request), raw)
    except PaperfeedError as exc:  # a duplicate or unknown id: say so on the form, keeping what was typed
        if exc.status >= 500 and exc.status != 502:
            raise
        return render(request, "submit.html", status=exc.status, form={"id": raw}, error=exc.message)
    return back(f"/papers/{paper.arxiv_id}?submitted=1")
