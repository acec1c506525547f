"""Native JSON routes for follows and author pages: the twins of paperfeed.web.follow_pages, over the same
paperfeed.follows calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from paperfeed import feed, follows
from paperfeed.alerts import webhooks
from paperfeed.api.auth import api_writer, caller
from paperfeed.api.schemas import hf_paper, iso_z
from paperfeed.errors import NotFound, Unauthorized
from paperfeed.http_edge import engine_of, int_param, site_of, store_of
from paperfeed.models import Follow, Webhook

router = APIRouter(prefix="/api")


class FollowIn(BaseModel):
    kind: str = Field(max_length=40, description="author, category or query")
    value: str = Field(max_length=20_000, description="an author's name, a category (cs.LG, math) or a search")
    digest: bool = Field(True, description="new matches go into your digest's followed section")
    webhook: bool = Field(True, description="new matches go to your webhook, when you have one")


class WebhookIn(BaseModel):
    url: str = Field(max_length=20_000, description="http(s) URL on the public internet; receives a JSON POST")


def follow_dict(f: Follow) -> dict[str, Any]:
    return {"id": f.id, "kind": f.kind, "value": f.value, "digest": f.by_digest, "webhook": f.by_webhook,
            "createdAt": iso_z(f.created_at)}  # fmt: skip


def webhook_dict(h: Webhook) -> dict[str, Any]:
    return {"url": h.url, "secret": h.secret, "active": h.active, "failures": h.failures,
            "disabledReason": h.disabled_reason, "createdAt": iso_z(h.created_at),
            "lastSuccessAt": iso_z(h.last_success_at)}  # fmt: skip


@router.get("/follows", summary="What the caller follows (native)")
def list_follows(request: Request) -> list[dict[str, Any]]:
    user = caller(request)
    if user is None:
        raise Unauthorized("log in, or send Authorization: Bearer <token>, to see your follows")
    return [follow_dict(f) for f in store_of(request).list_follows(user.id)]


@router.post("/follows", status_code=201, summary="Follow an author, a category or a search (native)")
def add_follow(request: Request, given: FollowIn) -> dict[str, Any]:
    made = follows.follow(store_of(request), api_writer(request), given.kind, given.value, digest=given.digest,
                          webhook=given.webhook, engine=engine_of(request))  # fmt: skip
    return follow_dict(made)


@router.delete("/follows/{follow_id}", status_code=204, summary="Unfollow (native)")
def delete_follow(request: Request, follow_id: str) -> Response:
    follows.unfollow(store_of(request), api_writer(request), int_param(follow_id, "follow_id", 0, 1, 2**62))
    return Response(status_code=204)


@router.get("/authors/{name:path}", summary="An author's papers, co-authors and categories (native)")
def author(request: Request, name: str, page: str | None = None) -> dict[str, Any]:
    found = follows.author_page(store_of(request), name, int_param(page, "page", 1, 1, 100_000))
    extra = feed.enrichments(store_of(request), found.papers)
    return {
        "name": found.name, "names": found.names, "total": found.total, "page": found.page, "pages": found.pages,
        "coauthors": [{"name": n, "papers": c} for n, c in found.coauthors],
        "categories": [{"category": n, "papers": c} for n, c in found.categories],
        "papers": [hf_paper(p, extra.get(p.arxiv_id)) for p in found.papers],
    }  # fmt: skip


@router.get("/webhook", summary="Your webhook: where new matches of your follows are POSTed (native)")
def get_webhook(request: Request) -> dict[str, Any]:
    user = caller(request)
    if user is None:
        raise Unauthorized("log in, or send Authorization: Bearer <token>, to see your webhook")
    found = store_of(request).get_webhook(user.id)
    if found is None:
        raise NotFound('you have no webhook: PUT /api/webhook with {"url": ...} to set one')
    return webhook_dict(found)


@router.put("/webhook", summary="Set your webhook (a new signing secret each time) (native)")
def put_webhook(request: Request, given: WebhookIn) -> dict[str, Any]:
    allow = site_of(request).settings.webhook_allow_private
    return webhook_dict(webhooks.set_webhook(store_of(request), api_writer(request), given.url, allow_private=allow))


@router.delete("/webhook", status_code=204, summary="Remove your webhook (native)")
def delete_webhook(request: Request) -> Response:
    if not store_of(request).delete_webhook(api_writer(request).id):
        raise NotFound("you have no webhook")
    return Response(status_code=204)
