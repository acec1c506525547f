"""Digest subscriptions on the web: subscribe (double opt-in), confirm, manage and unsubscribe through the signed
links in the mails, and RFC 8058 one-click unsubscribe (a POST from the mail client, authorised by its link)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from paperfeed.digest import feedback
from paperfeed.digest import subscribe as subs
from paperfeed.errors import PaperfeedError
from paperfeed.http_edge import store_of
from paperfeed.http_edge import subscribe as subscribe_request
from paperfeed.models import Subscription
from paperfeed.web.deps import CheckedForm, PostedForm, field, settings_of, viewer
from paperfeed.web.pages import render

router = APIRouter()


def _prefs(form: FormData) -> Any:
    return subs.preferences(
        field(form, "frequency", "daily"), field(form, "weekday", "0"), field(form, "categories"),
        field(form, "keywords"), field(form, "max_papers", "10"), field(form, "min_upvotes", "0"),
        field(form, "content", "trending"), field(form, "confidence"), field(form, "explore", "0"),
    )  # fmt: skip


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, email: str = "") -> Response:
    user = viewer(request)
    form = {"email": email[:320] or (user.email if user and user.email else ""), "frequency": "daily"}
    return render(request, "subscribe.html", form=form, weekdays=subs.WEEKDAYS, levels=subs.LEVELS)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(request: Request, form: CheckedForm) -> Response:
    entered = {k: field(form, k) for k in ("email", "frequency", "weekday", "categories", "keywords", "max_papers",
                                           "content", "confidence", "explore")}  # fmt: skip
    try:
        sub = subscribe_request(request, entered["email"], _prefs(form), viewer(request))
    except PaperfeedError as exc:
        return render(request, "subscribe.html", status=exc.status, form=entered, weekdays=subs.WEEKDAYS,
                      levels=subs.LEVELS, error=exc.message)  # fmt: skip
    return render(request, "subscribe_done.html", subscription=sub, state="check")


@router.get("/subscribe/confirm", response_class=HTMLResponse)
def confirm(request: Request, token: str = "") -> Response:
    sub = subs.confirm(store_of(request), settings_of(request).secret_key, token)
    return render(request, "subscribe_done.html", subscription=sub, state="confirmed")


def _manage_page(request: Request, sub: Subscription, token: str, saved: bool = False) -> Response:
    store = store_of(request)
    return render(request, "subscribe_manage.html", subscription=sub, token=token, weekdays=subs.WEEKDAYS,
                  saved=saved, counts=store.feedback_counts(sub.id), topics=store.feedback_by_topic(sub.id),
                  levels=subs.LEVELS)  # fmt: skip


@router.get("/subscribe/manage", response_class=HTMLResponse)
def manage_form(request: Request, token: str = "") -> Response:
    return _manage_page(request, subs.by_link(store_of(request), settings_of(request).secret_key, token), token)


@router.post("/subscribe/manage", response_class=HTMLResponse)
def manage(request: Request, form: CheckedForm) -> Response:
    token = field(form, "token")
    sub = subs.change(store_of(request), settings_of(request).secret_key, token, _prefs(form))
    return _manage_page(request, sub, token, saved=True)


@router.post("/subscribe/record-opens", response_class=HTMLResponse)
def record_opens(request: Request, form: CheckedForm) -> Response:
    token = field(form, "token")
    sub = subs.by_link(store_of(request), settings_of(request).secret_key, token)
    return _manage_page(request, store_of(request).set_record_opens(sub.id, field(form, "on") == "1"), token, True)


@router.get("/digest/feedback", response_class=HTMLResponse)
def feedback_page(request: Request, token: str = "") -> Response:
    """The page a mail's "relevant" / "not for me" link opens: one click there records it (GET changes nothing)."""
    judgement, _, paper = feedback.asked(store_of(request), settings_of(request).secret_key, token)
    return render(request, "digest_feedback.html", judgement=judgement, paper=paper, token=token, done=False)


@router.post("/digest/feedback", response_class=HTMLResponse)
def feedback_record(request: Request, form: PostedForm) -> Response:
    """Authorised by the link's signed token (a reader clicking from the mail has no session or CSRF cookie)."""
    token = field(form, "token")
    judgement, _, paper = feedback.record(store_of(request), settings_of(request).secret_key, token)
    return render(request, "digest_feedback.html", judgement=judgement, paper=paper, token=token, done=True)


@router.get("/digest/open")
def open_paper(request: Request, token: str = "") -> Response:
    """A mail's title link: records "opened" (unless turned off) and goes on to the paper."""
    paper = feedback.opened(store_of(request), settings_of(request).secret_key, token)
    return RedirectResponse(f"/papers/{paper.arxiv_id}", status_code=303)


@router.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_form(request: Request, token: str = "") -> Response:
    sub = subs.by_link(store_of(request), settings_of(request).secret_key, token)
    return render(request, "subscribe_done.html", subscription=sub, state="leave", token=token)


@router.post("/unsubscribe")
def unsubscribe(request: Request, form: PostedForm, token: str = "") -> Response:
    """One click, by the link's token (query or form): mail clients POST it without cookies (RFC 8058), so the
    token is the authorisation and there is no CSRF token to check."""
    sub = subs.leave(store_of(request), settings_of(request).secret_key, token or field(form, "token"))
    return render(request, "subscribe_done.html", subscription=sub, state="left")
