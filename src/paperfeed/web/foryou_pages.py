"""The "for you" page, "not interested", the reader's interests statement, and the cold start (categories, ids,
a BibTeX or RIS file)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed import library, reader_actions
from paperfeed.http_edge import seed, seed_ask, site_of, store_of
from paperfeed.recommend.serve import WINDOWS, ForYou
from paperfeed.web.actions import back, writer
from paperfeed.web.deps import CheckedForm, field, viewer
from paperfeed.web.pages import render

router = APIRouter()


def foryou_of(request: Request) -> ForYou:
    return site_of(request).services.foryou


@router.get("/for-you", response_class=HTMLResponse)
def for_you(request: Request, window: str = "week") -> Response:
    user = viewer(request)
    if user is None:
        return back("/login?next=/for-you")
    picks = foryou_of(request).recommend(user, window=window, limit=30)
    hide = request.query_params.get("hide_read") == "1"
    hidden = 0
    if hide:
        kept, hidden = library.unread(store_of(request), user, [r.paper for r in picks])
        picks = [r for r in picks if r.paper in kept]
    signals = store_of(request).signals(user.id)
    few = len(signals.liked) < 3
    return render(request, "foryou.html", picks=picks, window=window, windows=WINDOWS, interests=signals.interests,
                  few=few, hide_read=hide, hidden=hidden)  # fmt: skip


@router.post("/papers/{arxiv_id}/dismiss")
def dismiss(request: Request, arxiv_id: str, form: CheckedForm) -> Response:
    reader_actions.dismiss(store_of(request), writer(request), arxiv_id, undo=field(form, "undo") == "1")
    return back(f"/for-you?window={field(form, 'window', 'week')}")


@router.post("/for-you/seed", response_class=HTMLResponse)
async def seed_papers(request: Request, form: CheckedForm) -> Response:
    ask = await seed_ask(form)
    report = await run_in_threadpool(lambda: seed(request, writer(request), ask))
    return render(request, "seeded.html", report=report)


@router.post("/account/interests")
def interests(request: Request, form: CheckedForm) -> Response:
    reader_actions.set_interests(store_of(request), writer(request), field(form, "interests"))
    return back("/for-you")
