"""Accounts and what belongs to a reader: sign up, log in, log out, API tokens, user pages, collections."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from paperfeed import accounts, export, reader_actions
from paperfeed.accounts import Session
from paperfeed.errors import PaperfeedError, TooManyRequests, Unauthorized
from paperfeed.http_edge import client_address, site_of, store_of
from paperfeed.web.actions import back, writer
from paperfeed.web.deps import CSRF_COOKIE, SESSION_COOKIE, CheckedForm, field, local_path, require_user, viewer
from paperfeed.web.pages import render

router = APIRouter()


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this site only (no //host or scheme: no open redirect)."""
    return local_path(value or "", "/")


def new_csrf_cookie(request: Request, response: Response) -> None:
    """A fresh CSRF binding: tokens from before a log-in or log-out stop working (no session fixation of forms)."""
    response.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(24), httponly=True, samesite="lax", secure=request.url.scheme == "https",
        path="/",
    )  # fmt: skip


def logged_in(request: Request, session: Session, to: str) -> Response:
    response = back(safe_next(to))
    response.set_cookie(
        SESSION_COOKIE, session.token, expires=session.expires_at, httponly=True, samesite="lax",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    new_csrf_cookie(request, response)
    return response


def account_key(name: str) -> str:
    return "account:" + name.strip().lower()[:64]


def form_error(request: Request, exc: PaperfeedError, **context: object) -> Response:
    """The form again with what went wrong (and, for a rate limit, when to try again)."""
    response = render(request, "account_form.html", status=exc.status, error=exc.message, **context)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request, next: str = "/") -> Response:
    return render(request, "account_form.html", action="signup", form={"name": "", "email": "", "next": next})


@router.post("/signup", response_class=HTMLResponse)
def signup(request: Request, form: CheckedForm) -> Response:
    entered = {"name": field(form, "name"), "email": field(form, "email"), "next": field(form, "next", "/")}
    try:
        site_of(request).limits.signup.hit(client_address(request))
        user = accounts.sign_up(store_of(request), entered["name"], field(form, "password"), entered["email"])
    except PaperfeedError as exc:
        return form_error(request, exc, action="signup", form=entered)
    return logged_in(request, accounts.start_session(store_of(request), user), entered["next"])


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "account_form.html", action="login", form={"name": "", "next": next})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: CheckedForm) -> Response:
    entered = {"name": field(form, "name"), "next": field(form, "next", "/")}
    guard = site_of(request).limits.account
    try:
        site_of(request).limits.login.hit(client_address(request))
        guard.check(account_key(entered["name"]))
        try:
            user = accounts.authenticate(store_of(request), entered["name"], field(form, "password"))
        except Unauthorized:
            guard.failed(account_key(entered["name"]))
            raise
        guard.succeeded(account_key(entered["name"]))
    except PaperfeedError as exc:
        return form_error(request, exc, action="login", form=entered)
    return logged_in(request, accounts.start_session(store_of(request), user), entered["next"])


@router.post("/logout")
def logout(request: Request, _: CheckedForm) -> Response:
    accounts.end_session(store_of(request), request.cookies.get(SESSION_COOKIE))
    response = back("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    new_csrf_cookie(request, response)
    return response


@router.get("/account", response_class=HTMLResponse)
def account(request: Request) -> Response:
    if viewer(request) is None:
        return back("/login?next=/account")
    user = require_user(request)
    return render(request, "account.html", tokens=store_of(request).list_tokens(user.id), new_token=None)


@router.post("/account/tokens", response_class=HTMLResponse)
def new_token(request: Request, form: CheckedForm) -> Response:
    user = writer(request)
    secret, _ = accounts.create_token(store_of(request), user, field(form, "name"))
    return render(request, "account.html", tokens=store_of(request).list_tokens(user.id), new_token=secret)


@router.post("/account/tokens/{token_id}/delete")
def delete_token(request: Request, token_id: int, _: CheckedForm) -> Response:
    store_of(request).delete_token(writer(request).id, token_id)
    return back("/account")


@router.get("/u/{name}", response_class=HTMLResponse)
def user_page(request: Request, name: str) -> Response:
    page = reader_actions.user_page(store_of(request), name, viewer(request))
    return render(request, "user.html", page=page)


@router.post("/collections")
def create_collection(request: Request, form: CheckedForm) -> Response:
    user = writer(request)
    made = reader_actions.create_collection(store_of(request), user, field(form, "name"), field(form, "public") == "1")
    paper = field(form, "paper")
    if paper:  # made from a paper's page: the paper goes in at once
        reader_actions.set_in_collection(store_of(request), user, made.owner, made.slug, paper, True)
    return back(f"/u/{made.owner}/collections/{made.slug}")


@router.get("/u/{name}/collections/{slug}", response_class=HTMLResponse)
def collection(request: Request, name: str, slug: str) -> Response:
    user = viewer(request)
    found, papers = reader_actions.collection(store_of(request), name, slug, user)
    mine = user is not None and user.name.lower() == found.owner.lower()
    notes = store_of(request).notes(user.id, [p.arxiv_id for p in papers]) if user is not None and mine else {}
    return render(request, "collection.html", collection=found, papers=papers, notes=notes)


@router.get("/u/{name}/collections/{slug}/bibtex")
def collection_bibtex(request: Request, name: str, slug: str) -> Response:
    found, papers = reader_actions.collection(store_of(request), name, slug, viewer(request))
    headers = {"Content-Disposition": f'inline; filename="{found.slug}.bib"'}
    return PlainTextResponse(export.bibtex(papers), media_type="application/x-bibtex; charset=utf-8", headers=headers)


@router.post("/u/{name}/collections/{slug}/papers")
def collect(request: Request, name: str, slug: str, form: CheckedForm) -> Response:
    present = field(form, "present", "1") != "0"
    found = reader_actions.set_in_collection(
        store_of(request), writer(request), name, slug, field(form, "paper"), present
    )
    return back(f"/u/{found.owner}/collections/{found.slug}")


@router.post("/u/{name}/collections/{slug}/delete")
def delete_collection(request: Request, name: str, slug: str, _: CheckedForm) -> Response:
    user = writer(request)
    reader_actions.delete_collection(store_of(request), user, name, slug)
    return back(f"/u/{user.name}")
