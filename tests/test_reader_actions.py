"""Accounts, votes, comments, submissions, collections and moderation, through paperfeed.accounts and
paperfeed.reader_actions over every store backend."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from conftest import present
from paperfeed import accounts, feed, reader_actions
from paperfeed.errors import BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from paperfeed.limits import RateLimiter
from paperfeed.models import Paper, User
from paperfeed.store import Store
from search_corpus import corpus, paper


@pytest.fixture
def filled(store: Store) -> Store:
    store.upsert_papers(corpus())
    return store


@pytest.fixture
def ada(filled: Store) -> User:
    return accounts.sign_up(filled, "ada", "correct horse battery", "ada@example.org")


@pytest.fixture
def admin(filled: Store) -> User:
    return accounts.sign_up(filled, "root", "correct horse battery", is_admin=True)


def test_sign_up_and_log_in(filled: Store) -> None:
    user = accounts.sign_up(filled, "Grace", "a long password")
    assert accounts.authenticate(filled, "grace", "a long password").id == user.id  # names ignore case
    with pytest.raises(Unauthorized, match="wrong name or password"):
        accounts.authenticate(filled, "grace", "not it at all")
    with pytest.raises(Unauthorized, match="wrong name or password"):  # the same message for a missing name
        accounts.authenticate(filled, "nobody", "a long password")
    with pytest.raises(Conflict, match="taken"):
        accounts.sign_up(filled, "GRACE", "another password")
    stored = filled.credentials("grace")
    assert stored is not None and stored.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("name", "password", "email", "problem"),
    [("a", "long enough", None, "name"), ("bad name!", "long enough", None, "name"),
     ("<script>", "x" * 9, None, "name"), ("okname", "short", None, "password"),
     ("okname", "long enough", "not-an-email", "email")],
)  # fmt: skip
def test_sign_up_names_the_bad_field(filled: Store, name: str, password: str, email: str | None, problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        accounts.sign_up(filled, name, password, email)


def test_sessions_and_tokens(filled: Store, ada: User) -> None:
    session = accounts.start_session(filled, ada)
    assert accounts.session_user(filled, session.token) == ada
    assert filled.session_user(session.token, datetime.now(UTC)) is None  # only the hash is stored
    accounts.end_session(filled, session.token)
    assert accounts.session_user(filled, session.token) is None
    secret, token = accounts.create_token(filled, ada, "my script")
    assert accounts.token_user(filled, secret).id == ada.id
    assert filled.list_tokens(ada.id)[0].last_used_at is not None
    filled.delete_token(ada.id, token.id)
    with pytest.raises(Unauthorized):
        accounts.token_user(filled, secret)


def test_secret_key_must_be_set() -> None:
    for weak in ("", "changeme", "secret", "short-but-random-x"):
        with pytest.raises(BadRequest, match="PAPERFEED_SECRET_KEY"):
            accounts.check_secret_key(weak)
    assert accounts.check_secret_key("k" * 40) == "k" * 40


def test_csrf_tokens_bind_to_the_cookie() -> None:
    token = accounts.csrf_token("k" * 40, "cookie-a")
    assert accounts.csrf_valid("k" * 40, "cookie-a", token)
    assert not accounts.csrf_valid("k" * 40, "cookie-b", token)
    assert not accounts.csrf_valid("k" * 40, None, token)
    assert not accounts.csrf_valid("other" * 10, "cookie-a", token)


def test_votes_are_idempotent_and_survive_reimport(filled: Store, ada: User, admin: User) -> None:
    assert reader_actions.vote(filled, ada, "2501.00002", True).upvotes == 1
    assert reader_actions.vote(filled, ada, "2501.00002", True).upvotes == 1  # twice: still one vote
    assert reader_actions.vote(filled, admin, "arXiv:2501.00002v1", True).upvotes == 2
    filled.upsert_papers([paper(2, title="A new title for v2", version=2, upvotes=5)])  # the source's own count
    again = filled.get_paper("2501.00002")
    assert again is not None and again.upvotes == 7 and again.title == "A new title for v2"
    assert reader_actions.vote(filled, ada, "2501.00002", False).upvotes == 6
    assert reader_actions.vote(filled, ada, "2501.00002", False).upvotes == 6
    assert filled.voted(admin.id, ["2501.00002", "2501.00003"]) == {"2501.00002"}
    with pytest.raises(NotFound):
        reader_actions.vote(filled, ada, "2501.99999", True)


def test_votes_move_papers_in_trending(filled: Store, ada: User) -> None:
    day = "2025-01-03"
    extra = [paper(40 + n, arxiv_id=f"2501.0090{n}", feed_date=date(2025, 1, 3)) for n in range(3)]
    filled.upsert_papers(extra)
    before = [p.arxiv_id for p in feed.feed(filled, feed.period_of(day=day), sort="trending").papers]
    last = before[-1]
    reader_actions.vote(filled, ada, last, True)
    after = [p.arxiv_id for p in feed.feed(filled, feed.period_of(day=day), sort="trending").papers]
    assert after[0] == last
    assert feed.feed(filled, feed.period_of(day=day), sort="upvotes").papers[0].arxiv_id == last


def test_comments_render_safely_and_admins_hide_them(filled: Store, ada: User, admin: User) -> None:
    made = reader_actions.comment(
        filled, ada, "2501.00001", "**Nice** <script>alert(1)</script> [x](javascript:alert(1))"
    )
    html = reader_actions.render_markdown(made.body)
    assert "<strong>Nice</strong>" in html
    assert "<script" not in html and "javascript:" not in html.replace("[x](javascript:alert(1))", "")
    assert 'href="javascript' not in html
    assert present(filled.get_paper("2501.00001")).num_comments == 1
    with pytest.raises(Forbidden):
        reader_actions.hide_comment(filled, ada, made.id, True)
    reader_actions.hide_comment(filled, admin, made.id, True)
    assert reader_actions.comments(filled, "2501.00001", ada).comments == []
    assert [c.hidden for c in reader_actions.comments(filled, "2501.00001", admin).comments] == [True]
    assert present(filled.get_paper("2501.00001")).num_comments == 0
    for body in ("", "   ", "x" * (reader_actions.MAX_COMMENT + 1)):
        with pytest.raises(BadRequest, match="body"):
            reader_actions.comment(filled, ada, "2501.00001", body)


def test_submit_fetches_unknown_papers_and_refuses_duplicates(filled: Store, ada: User, admin: User) -> None:
    fetched: list[str] = []

    def fetch(arxiv_id: str) -> Paper | None:
        fetched.append(arxiv_id)
        return paper(50, arxiv_id=arxiv_id) if arxiv_id == "2502.00001" else None

    made = reader_actions.submit(filled, fetch, ada, "https://arxiv.org/abs/2502.00001v2")
    assert (made.arxiv_id, made.submitted_by) == ("2502.00001", "ada") and made.submitted_at is not None
    with pytest.raises(Conflict, match="already submitted by ada"):
        reader_actions.submit(filled, fetch, admin, "2502.00001")
    with pytest.raises(NotFound, match=r"arXiv has no paper 2502\.00002"):
        reader_actions.submit(filled, fetch, ada, "2502.00002")
    with pytest.raises(BadRequest, match="arXiv id"):
        reader_actions.submit(filled, fetch, ada, "not an id")
    assert reader_actions.submit(filled, fetch, admin, "2501.00004").submitted_by == "root"  # stored: no fetch
    assert fetched == ["2502.00001", "2502.00002"]
    mine = feed.feed(filled, feed.period_of(day="2025-01-05"), submitter="root", sort="newest")
    assert [p.arxiv_id for p in mine.papers] == ["2501.00004"]


def test_removed_papers_stay_removed(filled: Store, ada: User, admin: User) -> None:
    reader_actions.vote(filled, ada, "2501.00003", True)
    with pytest.raises(Forbidden):
        reader_actions.remove_paper(filled, ada, "2501.00003")
    reader_actions.remove_paper(filled, admin, "2501.00003", "spam")
    assert filled.get_paper("2501.00003") is None
    filled.upsert_papers([paper(3)])  # a later import does not bring it back
    assert filled.get_paper("2501.00003") is None
    assert filled.user_papers(ada.id, "upvoted", 10, 0) == []
    with pytest.raises(Conflict, match="removed"):
        reader_actions.submit(filled, lambda _id: paper(3), ada, "2501.00003")


def test_collections_are_private_unless_public(filled: Store, ada: User, admin: User) -> None:
    reading = reader_actions.create_collection(filled, ada, "Reading group: week 1", public=False)
    assert reading.slug == "reading-group-week-1"
    reader_actions.set_in_collection(filled, ada, "ada", reading.slug, "2501.00002", True)
    reader_actions.set_in_collection(filled, ada, "ada", reading.slug, "2501.00005", True)
    reader_actions.set_in_collection(filled, ada, "ada", reading.slug, "2501.00005", True)  # idempotent
    found, papers = reader_actions.collection(filled, "ada", reading.slug, ada)
    assert found.size == 2 and [p.arxiv_id for p in papers] == ["2501.00005", "2501.00002"]
    with pytest.raises(NotFound):
        reader_actions.collection(filled, "ada", reading.slug, admin)  # private
    with pytest.raises(NotFound):
        reader_actions.collection(filled, "ada", reading.slug, None)
    with pytest.raises(Conflict):
        reader_actions.create_collection(filled, ada, "reading group week 1", public=True)
    shared = reader_actions.create_collection(filled, ada, "Shared", public=True)
    assert reader_actions.collection(filled, "ADA", shared.slug, None)[0].public
    with pytest.raises((Forbidden, NotFound)):
        reader_actions.set_in_collection(filled, admin, "ada", shared.slug, "2501.00002", True)
    assert [c.slug for c in reader_actions.user_page(filled, "ada", None).collections] == ["shared"]
    assert len(reader_actions.user_page(filled, "ada", ada).collections) == 2
    reader_actions.delete_collection(filled, ada, "ada", reading.slug)
    assert filled.get_paper("2501.00002") is not None


def test_user_page_lists_upvoted_and_submitted(filled: Store, ada: User) -> None:
    reader_actions.vote(filled, ada, "2501.00001", True)
    reader_actions.vote(filled, ada, "2501.00006", True)
    reader_actions.submit(filled, lambda _id: None, ada, "2501.00002")
    page = reader_actions.user_page(filled, "ada", None)
    assert [p.arxiv_id for p in page.upvoted] == ["2501.00006", "2501.00001"]
    assert [p.arxiv_id for p in page.submitted] == ["2501.00002"]
    with pytest.raises(NotFound):
        reader_actions.user_page(filled, "nobody", None)


def test_papers_page_cursor(filled: Store) -> None:
    first, cursor = feed.papers_page(filled, None, 3)
    assert len(first) == 3 and cursor
    rest: list[Paper] = []
    while cursor:
        page, cursor = feed.papers_page(filled, cursor, 3)
        rest += page
    ids = [p.arxiv_id for p in first + rest]
    assert len(ids) == len(set(ids)) == len(corpus())
    with pytest.raises(BadRequest, match="cursor"):
        feed.papers_page(filled, "%%%", 3)


def test_rate_limiter_windows() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60, "log-in attempts", clock=lambda: now[0])
    limiter.hit("a")
    limiter.hit("a")
    limiter.hit("b")
    with pytest.raises(TooManyRequests, match="try again in 60 s") as raised:
        limiter.hit("a")
    assert raised.value.retry_after == 60
    now[0] = 61.0
    limiter.hit("a")  # a new window
