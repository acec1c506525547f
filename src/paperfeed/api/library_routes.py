"""Native JSON routes for a reader's library: notes, "read" marks, exports and imports (the twins of
paperfeed.web.library_pages, over the same paperfeed.library calls)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from paperfeed import feed, library, reader_actions
from paperfeed.api.auth import api_writer, caller
from paperfeed.api.schemas import collection_dict, iso_z
from paperfeed.errors import NotFound, Unauthorized
from paperfeed.http_edge import import_file, seed_ask, store_of
from paperfeed.models import User

router = APIRouter(prefix="/api")


class NoteIn(BaseModel):
    body: str = Field(max_length=100_000, description="Markdown, private to you; empty deletes the note")


def _reader(request: Request) -> User:
    user = caller(request)
    if user is None:
        raise Unauthorized("log in, or send Authorization: Bearer <token>")
    return user


@router.get("/papers/{arxiv_id}/note", summary="Your private note on a paper (native)")
def get_note(request: Request, arxiv_id: str) -> dict[str, Any]:
    found = store_of(request).notes(_reader(request).id, [feed.arxiv_id(arxiv_id)])
    if not found:
        raise NotFound("you have no note on this paper")
    n = next(iter(found.values()))
    return {"id": n.arxiv_id, "body": n.body, "html": n.html, "updatedAt": iso_z(n.updated_at)}


@router.put("/papers/{arxiv_id}/note", summary="Write (or, empty, delete) your note on a paper (native)")
def put_note(request: Request, arxiv_id: str, given: NoteIn) -> dict[str, Any]:
    made = library.note(store_of(request), api_writer(request), arxiv_id, given.body)
    return {"id": feed.arxiv_id(arxiv_id), "body": made.body if made else "", "html": made.html if made else ""}


@router.put("/papers/{arxiv_id}/read", summary="Mark a paper read (native; idempotent)")
def mark_read(request: Request, arxiv_id: str) -> dict[str, Any]:
    return {"id": library.mark_read(store_of(request), api_writer(request), arxiv_id, True), "read": True}


@router.delete("/papers/{arxiv_id}/read", summary="Mark a paper unread (native; idempotent)")
def mark_unread(request: Request, arxiv_id: str) -> dict[str, Any]:
    return {"id": library.mark_read(store_of(request), api_writer(request), arxiv_id, False), "read": False}


@router.get("/users/{name}/collections/{slug}/export.{fmt}", summary="A collection as BibTeX, RIS or CSL-JSON (native)")
def export_collection(request: Request, name: str, slug: str, fmt: str) -> Response:
    kind = library.parse_format(fmt)
    found, papers = reader_actions.collection(store_of(request), name, slug, caller(request))
    return _download(library.export_as(papers, kind), kind, found.slug)


@router.get("/library/export.{fmt}", summary="Everything you saved, as BibTeX, RIS or CSL-JSON (native)")
def export_library(request: Request, fmt: str) -> Response:
    kind = library.parse_format(fmt)
    user = _reader(request)
    return _download(library.export_as(store_of(request).saved_papers(user.id), kind), kind, f"{user.name}-library")


def _download(body: bytes, kind: library.ExportFormat, name: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}.{kind}"'}
    return Response(body, media_type=library.TYPES[kind], headers=headers)


@router.post(
    "/users/{name}/collections/{slug}/import", summary="Import a BibTeX or RIS file into a collection (native)"
)
async def import_collection(request: Request, name: str, slug: str) -> dict[str, Any]:
    """A multipart form with ``file``: papers matched by arXiv id, DOI or exact title are added; the rest are
    listed under ``missing``."""
    ask = await seed_ask(await request.form())
    report = await run_in_threadpool(lambda: import_file(request, api_writer(request), name, slug, ask))
    return {"collection": collection_dict(report.collection), "found": report.found, "added": report.added,
            "missing": report.missing}  # fmt: skip
