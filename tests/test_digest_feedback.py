"""Feedback from the mail: every digest item's signed "relevant" / "not for me" links (a page, then one POST) and
its click-through (records "opened" unless switched off), joining the reader's labels."""

from __future__ import annotations

import email
import re
from datetime import UTC, date, datetime, timedelta
from email.message import Message

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import app_store, corpus_app, csrf_of
from paperfeed import accounts
from paperfeed.digest import feedback, links
from paperfeed.digest import subscribe as subs
from paperfeed.digest.compose import MailSettings
from paperfeed.digest.run import compose
from paperfeed.http_edge import site
from paperfeed.store import Store

BASE = "https://papers.example.org"
SECRET = "feedback-test-secret-" + "q" * 40
DAY = date(2025, 1, 7)


def _text_of_mail(store: Store) -> str:
    [item] = store.claim_due(datetime.now(UTC) + timedelta(days=1), 10, datetime.now(UTC))
    message: Message = email.message_from_bytes(item.message)
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@pytest.fixture
def app(tmp_path_factory: pytest.TempPathFactory, backend: str) -> FastAPI:
    return corpus_app(tmp_path_factory.mktemp("feedback"), backend, jobs_in_process=False, base_url=BASE,
                      secret_key=SECRET, page_cache_seconds=0)  # fmt: skip


def test_feedback_links_record_one_click_and_join_the_readers_labels(app: FastAPI) -> None:
    store = app_store(app)
    user = accounts.sign_up(store, "ivy", "a long enough password")
    sub, _ = store.save_subscription("ivy@example.org", subs.preferences(), user.id, datetime.now(UTC))
    store.confirm_subscription(sub.id, datetime.now(UTC))
    compose(store, MailSettings("d <d@example.org>", BASE, SECRET), DAY)
    text = _text_of_mail(store)
    relevant = re.findall(r"Relevant: https://papers\.example\.org(/digest/feedback\?token=\S+)", text)
    not_for_me = re.findall(r"Not for me: https://papers\.example\.org(/digest/feedback\?token=\S+)", text)
    opens = re.findall(r"https://papers\.example\.org(/digest/open\?token=\S+)", text)
    assert relevant and len(relevant) == len(not_for_me) == len(opens)
    client = TestClient(app, base_url=BASE)
    page = client.get(relevant[0])
    assert page.status_code == 200 and "Yes, this is relevant to me" in page.text
    assert store.feedback_counts(sub.id) == {}  # opening the link records nothing
    token = relevant[0].split("token=", 1)[1]
    done = client.post("/digest/feedback", data={"token": token})
    assert done.status_code == 200 and "Thanks: recorded" in done.text
    assert store.feedback_counts(sub.id) == {"relevant": 1}
    paper_key = store.signals(user.id).liked[0]  # "relevant" is a label for "for you"
    assert client.post("/digest/feedback", data={"token": not_for_me[0].split("token=", 1)[1]}).status_code == 200
    assert store.feedback_counts(sub.id) == {"not_for_me": 1}  # the later judgement replaces the earlier
    assert paper_key in store.signals(user.id).dismissed and paper_key not in store.signals(user.id).liked
    went = client.get(opens[0], follow_redirects=False)
    assert went.status_code == 303 and went.headers["location"].startswith("/papers/")
    assert store.feedback_counts(sub.id)["opened"] == 1
    assert feedback.prune(store, datetime.now(UTC) + timedelta(days=179)) == 0  # kept 180 days
    assert feedback.prune(store, datetime.now(UTC) + timedelta(days=181)) == 1
    client.get(opens[0], follow_redirects=False)
    manage = client.get(f"/subscribe/manage?token={links.sign(SECRET, 'manage', sub.id)}").text
    assert "0 papers relevant and 1 not for you" in manage and "Stop recording opens" in manage
    off = client.post("/subscribe/record-opens", data={"csrf_token": csrf_of(manage), "on": "0",
                                                       "token": links.sign(SECRET, "manage", sub.id)})  # fmt: skip
    assert off.status_code == 200 and "is not recorded" in off.text
    feedback.prune(store, datetime.now(UTC) + timedelta(days=181))
    assert client.get(opens[0], follow_redirects=False).status_code == 303
    assert "opened" not in store.feedback_counts(sub.id)  # switched off: the link only redirects
    site(app).services.close()


def test_feedback_links_refuse_forged_and_misused_tokens(app: FastAPI) -> None:
    store = app_store(app)
    sub, _ = store.save_subscription("jo@example.org", subs.preferences(), None, datetime.now(UTC))
    client = TestClient(app, base_url=BASE)
    good = links.sign_item(SECRET, "relevant", sub.id, "2501.00002")
    for path, message in [
        ("/digest/feedback?token=garbage", "this link is not valid"),
        ("/digest/feedback?token=" + links.sign_item("another-secret-" + "x" * 40, "relevant", sub.id, "2501.00002"),
         "this link is not valid"),
        ("/digest/feedback?token=" + links.sign_item(SECRET, "open", sub.id, "2501.00002"), "not valid for this page"),
        ("/digest/open?token=" + good, "not valid for this page"),
        ("/digest/feedback?token=" + links.sign(SECRET, "manage", sub.id), "not valid for this page"),
        ("/digest/feedback?token=" + links.sign_item(SECRET, "relevant", sub.id, "2501.99999"), "not in this instance"),
        ("/digest/feedback?token=" + links.sign_item(SECRET, "relevant", 10**6, "2501.00002"), "no longer exists"),
        ("/digest/feedback?token=" + "a" * 5000, "this link is not valid"),
    ]:  # fmt: skip
        answer = client.get(path, follow_redirects=False)
        assert 400 <= answer.status_code < 500 and message in answer.text, path
    assert client.post("/digest/feedback", data={"token": "nope"}).status_code == 400
    assert store.feedback_counts(sub.id) == {}  # nothing recorded by any of them
    site(app).services.close()
