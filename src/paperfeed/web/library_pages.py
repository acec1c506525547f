"""A reader's library on the pages: notes, "mark as read", imports into a collection (the use cases are
paperfeed.library; exports are the API's downloads, linked from the pages)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed import feed, library
from paperfeed.http_edge import import_file, seed_ask, store_of
from paperfeed.web.actions import back, writer
from paperfeed.web.deps import CheckedForm, field, local_path
from paperfeed.web.pages import render

router = APIRouter()


@router.post("/papers/{arxiv_id}/note")
def note(request: Request, arxiv_id: str, form: CheckedForm) -> Response:
    library.note(store_of(request), writer(request), arxiv_id, field(form, "note"))
    return back(f"/papers/{feed.arxiv_id(arxiv_id)}#note")


@router.post("/papers/{arxiv_id}/read")
def mark_read(request: Request, arxiv_id: str, form: CheckedForm) -> Response:
    done = library.mark_read(store_of(request), writer(request), arxiv_id, field(form, "read", "1") != "0")
    return back(local_path(field(form, "next"), f"/papers/{done}"))


@router.post("/u/{name}/collections/{slug}/import", response_class=HTMLResponse)
async def import_collection(request: Request, name: str, slug: str, form: CheckedForm) -> Response:
    ask = await seed_ask(form)
    report = await run_in_threadpool(lambda: import_file(request, writer(request), name, slug, ask))
    return render(request, "imported.html", report=report)
