"""Follows, author pages and personal feeds (the use cases are paperfeed.follows; the API twins live in
paperfeed.api.follow_routes)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from paperfeed import follows, reader_actions
from paperfeed.alerts import webhooks
from paperfeed.errors import NotFound
from paperfeed.http_edge import engine_of, int_param, site_of, store_of
from paperfeed.models import Paper
from paperfeed.web.actions import back, writer
from paperfeed.web.deps import CheckedForm, field, local_path, settings_of, viewer
from paperfeed.web.feeds import TYPES, feed_response
from paperfeed.web.pages import render

router = APIRouter()
FEED_TYPES = {*TYPES, "json"}


@router.get("/follows", response_class=HTMLResponse)
def follows_page(request: Request) -> Response:
    user = viewer(request)
    if user is None:
        return back("/login?next=/follows")
    store, settings = store_of(request), settings_of(request)
    found = store.feed_reader(user.id)
    token = follows.feed_token(settings.secret_key, user.id, found[1] if found else 0)
    return render(request, "follows.html", follows=store.list_follows(user.id), kinds=follows.KINDS, token=token,
                  base_url=settings.base_url.rstrip("/"), webhook=store.get_webhook(user.id))  # fmt: skip


@router.post("/follows")
def add_follow(request: Request, form: CheckedForm) -> Response:
    channels = {"digest": True, "webhook": True}
    if field(form, "channels") == "1":  # the follows page's form says which; the one-click buttons take both
        channels = {name: field(form, name) == "1" for name in channels}
    follows.follow(store_of(request), writer(request), field(form, "kind"), field(form, "value"), **channels,
                   engine=engine_of(request))  # fmt: skip
    return back(local_path(field(form, "next", "/follows")))


@router.post("/follows/webhook")
def set_webhook(request: Request, form: CheckedForm) -> Response:
    allow = settings_of(request).webhook_allow_private
    webhooks.set_webhook(store_of(request), writer(request), field(form, "url"), allow_private=allow)
    return back("/follows#webhook")


@router.post("/follows/webhook/delete")
def delete_webhook(request: Request, form: CheckedForm) -> Response:
    store_of(request).delete_webhook(writer(request).id)
    return back("/follows#webhook")


@router.post("/follows/feed-token")
def revoke_feed_token(request: Request, form: CheckedForm) -> Response:
    store_of(request).next_feed_generation(writer(request).id)
    return back("/follows")


@router.post("/follows/{follow_id}/delete")
def delete_follow(request: Request, follow_id: str, form: CheckedForm) -> Response:
    follows.unfollow(store_of(request), writer(request), int_param(follow_id, "follow_id", 0, 1, 2**62))
    return back(local_path(field(form, "next"), "/follows"))


@router.get("/authors/{name:path}", response_class=HTMLResponse)
def author(request: Request, name: str, page: str | None = None) -> Response:
    found = follows.author_page(store_of(request), name, int_param(page, "page", 1, 1, 100_000))
    user = viewer(request)
    mine = {f.key: f.id for f in store_of(request).list_follows(user.id) if f.kind == "author"} if user else {}
    return render(request, "author.html", page=found, following=mine.get(found.key))


@router.get("/feeds/me/{token}.{fmt}")
def personal_feed(request: Request, token: str, fmt: str) -> Response:
    """A reader's follows and "for you" picks as Atom, RSS or JSON Feed 1.1 (the token is on /follows)."""
    if fmt not in FEED_TYPES:
        raise NotFound("personal feeds are .atom, .rss or .json")
    store, settings = store_of(request), settings_of(request)
    user = follows.feed_reader(store, settings.secret_key, token)
    papers = follows.personal_feed(store, site_of(request).services.picks, user)
    base = settings.base_url.rstrip("/")
    link = f"{base}/feeds/me/{token}.{fmt}"
    response = _feed_response(fmt, f"paperfeed: {user.name}'s feed", f"{base}/follows", link, papers, base,
                              feed_id=f"{base}/feeds/me/{user.id}")  # fmt: skip
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@router.get("/u/{name}/collections/{slug}.{fmt}")
def collection_feed(request: Request, name: str, slug: str, fmt: str) -> Response:
    """A public collection as Atom, RSS or JSON Feed 1.1: its papers, most recently added first."""
    if fmt not in FEED_TYPES:
        raise NotFound("collection feeds are .atom, .rss or .json")
    found, papers = reader_actions.collection(store_of(request), name, slug, None)  # public ones only
    base = settings_of(request).base_url.rstrip("/")
    page, link = (
        f"{base}/u/{found.owner}/collections/{found.slug}",
        f"{base}/u/{found.owner}/collections/{found.slug}.{fmt}",
    )
    return _feed_response(fmt, f"paperfeed: {found.name} by {found.owner}", page, link, papers[:100], base)


def _feed_response(fmt: str, title: str, home: str, link: str, papers: list[Paper], base: str,
                   feed_id: str | None = None) -> Response:  # fmt: skip
    latest = max((p.feed_date for p in papers if p.feed_date), default=None) or date(1970, 1, 1)
    return feed_response(fmt, title, link, papers, base, latest, home=home, feed_id=feed_id)
