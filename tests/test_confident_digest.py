"""Digests that keep a promise: "only what we are confident about" picks by conformal selection against the
reader's judged random picks, the random pick and "something new" marked in the mail, Thompson sampling over
the reader's judgements of explored categories, and the controls on the subscribe and manage pages."""

from __future__ import annotations

import email
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.message import Message

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import app_store, corpus_app, csrf_of
from paperfeed import accounts, reader_actions
from paperfeed.digest import confident, links
from paperfeed.digest import subscribe as subs
from paperfeed.digest.compose import MailSettings
from paperfeed.digest.run import compose
from paperfeed.errors import BadRequest
from paperfeed.models import Subscription
from paperfeed.recommend.explore import Posterior, pick_topic, summary
from paperfeed.recommend.serve import Scored
from paperfeed.store import Store
from paperfeed.store.digest_slots import Slot
from search_corpus import paper

BASE = "https://papers.example.org"
SECRET = "confident-test-secret-" + "z" * 40
NOW = datetime(2025, 2, 1, 12, tzinfo=UTC)


# -- exploration ---------------------------------------------------------------------------------------------
def test_thompson_sampling_tries_what_went_well_and_still_explores() -> None:
    posterior = Posterior.of([("good", True)] * 9 + [("good", False)] + [("bad", False)] * 3 + [("bad", True)])
    rng = np.random.default_rng(3)
    drawn = Counter(pick_topic(posterior, ["good", "bad", "untried"], rng) for _ in range(3_000))
    assert drawn["good"] > drawn["untried"] > drawn["bad"] > 0  # the untried one keeps a chance
    assert pick_topic(posterior, [], rng) is None
    assert posterior.mean("good") == pytest.approx(10 / 12) and posterior.mean("never") == 0.5
    assert summary(posterior) == [("good", 9, 1), ("bad", 1, 3)]


# -- the plan of one mail --------------------------------------------------------------------------------------
@pytest.fixture
def filled(store: Store) -> Store:
    store.upsert_papers([paper(n) for n in range(30)])
    return store


def _sub(store: Store, email_: str, user_id: int | None, confidence: str = "", max_papers: str = "10",
         explore: str = "1", frequency: str = "daily") -> Subscription:  # fmt: skip
    prefs = subs.preferences(frequency, None, "", "", max_papers, None, "for_you", confidence, explore)
    sub, _ = store.save_subscription(email_, prefs, user_id, NOW)
    return store.confirm_subscription(sub.id, NOW)


def _scored(store: Store, ids: list[str], blend: list[float]) -> list[Scored]:
    found = {p.arxiv_id: p for p in store.papers_by_key(list(range(1, 200))).values()}
    return [Scored(found[a], {"blend": b, "content": -b}) for a, b in zip(ids, blend, strict=True)]


def _judged_probes(store: Store, sub: Subscription, count: int) -> None:
    """``count`` judged random picks: the relevant ones scored 3 by the blend, the rest 1 to 1.9 (the content
    model the reverse), so the blend separates and a candidate above 2 is confidently relevant."""
    assert count <= 30  # one judged pick per paper of the corpus
    for n in range(count):
        relevant = n % 4 == 0
        blend = 3.0 if relevant else 1.0 + (n % 7) * 0.15
        store.record_slots(sub.id, f"daily:test-{n}", [Slot(f"2501.{n:05d}", "probe",
                                                            {"blend": blend, "content": -blend})], NOW)  # fmt: skip
        store.record_feedback(sub.id, f"2501.{n:05d}", "relevant" if relevant else "not_for_me", NOW)


def test_a_reader_with_no_judgements_gets_no_confident_pick_but_a_random_one(filled: Store) -> None:
    sub = _sub(filled, "new@example.org", None, confidence="20")
    ids = [f"2501.{n:05d}" for n in range(10)]
    plan = confident.plan(filled, sub, _scored(filled, ids, [5.0] * 10), NOW, np.random.default_rng(1))
    assert plan.picks == [] and plan.probe is not None and plan.level == 0.2
    assert plan.calibration == 0 and plan.pooled
    assert "Still learning what you like: 0 judged random picks" in confident.explanation(plan)
    assert [s.kind for s in plan.slots].count("probe") == 1


def test_judged_random_picks_calibrate_a_variable_sized_confident_set(filled: Store) -> None:
    sub = _sub(filled, "old@example.org", None, confidence="0.2", max_papers="3", explore="0")
    few = confident.plan(filled, sub, _scored(filled, ["2501.00000"], [3.5]), NOW, np.random.default_rng(2))
    assert few.picks == [] and few.calibration == 0
    _judged_probes(filled, sub, 30)  # 30 judged papers of this reader: enough to promise
    ids = [f"2501.{n:05d}" for n in range(12)]
    high = _scored(filled, ids, [3.5, 3.2, 0.1, 0.0, 0.2, 3.1, 0.0, 0.0, 0.3, 0.0, 0.0, 0.1])
    plan = confident.plan(filled, sub, high, NOW, np.random.default_rng(2))
    assert plan.model == "blend"  # OptCS: the blend separates the judged picks, the content model does not
    assert {p.arxiv_id for p in plan.picks} == {"2501.00000", "2501.00001", "2501.00005"}  # capped at 3
    assert plan.explore is None  # switched off
    low = confident.plan(filled, sub, _scored(filled, ids, [0.0] * 12), NOW, np.random.default_rng(2))
    assert low.picks == []  # nothing scores like the relevant judged picks: nothing confident
    assert "Nothing today cleared your bar of at most 20%" in confident.explanation(low)
    words = confident.explanation(plan)
    assert "at most 20% of what we pick is not for you" in words and "by the blend model" in words


def test_other_readers_judgements_help_only_until_a_reader_has_enough(filled: Store) -> None:
    veteran = _sub(filled, "veteran@example.org", None, confidence="30")
    _judged_probes(filled, veteran, 30)
    novice = _sub(filled, "novice@example.org", None, confidence="30")
    ids = [f"2501.{n:05d}" for n in range(5)]
    plan = confident.plan(filled, novice, _scored(filled, ids, [3.5, 0, 0, 0, 0]), NOW, np.random.default_rng(4))
    assert plan.pooled and plan.calibration == 30  # the veteran's
    assert [p.arxiv_id for p in plan.picks] == ["2501.00000"]
    weekly = _sub(filled, "weekly@example.org", None, confidence="30", frequency="weekly")
    assert (
        confident.plan(
            filled, weekly, _scored(filled, ids, [3.5, 0, 0, 0, 0]), NOW, np.random.default_rng(4)
        ).calibration
        == 0
    )  # only readers of the same frequency


def test_something_new_comes_from_an_unrated_category_and_its_judgement_is_remembered(filled: Store) -> None:
    user = accounts.sign_up(filled, "explorer", "a long enough password")
    reader_actions.vote(filled, user, "2501.00002", True)  # cs.CV: rated
    sub = _sub(filled, "explorer@example.org", user.id, max_papers="2")
    ids = ["2501.00002", "2501.00003", "2501.00012", "2501.00006"]  # cs.CV, cs.CV, cs.CV, quant-ph
    plan = confident.plan(filled, sub, _scored(filled, ids, [4, 3, 2, 1]), NOW, np.random.default_rng(5))
    assert [p.arxiv_id for p in plan.picks] == ["2501.00002", "2501.00003"]
    assert plan.explore is not None and plan.explore.arxiv_id == "2501.00006" and plan.explore_topic == "quant-ph"
    filled.record_slots(sub.id, "daily:x", plan.slots, NOW)
    filled.record_feedback(sub.id, "2501.00006", "relevant", NOW)
    [judged] = filled.labelled_slots("explore", NOW - timedelta(days=1), subscription_id=sub.id)
    assert judged.topic == "quant-ph" and judged.relevant
    assert filled.feedback_by_topic(sub.id) == [("quant-ph", 1, 0)]


# -- the mail, end to end --------------------------------------------------------------------------------------
@pytest.fixture
def app(tmp_path_factory: pytest.TempPathFactory, backend: str) -> FastAPI:
    return corpus_app(tmp_path_factory.mktemp("confident"), backend, jobs_in_process=False, base_url=BASE,
                      secret_key=SECRET, page_cache_seconds=0)  # fmt: skip


def _mail_text(raw: bytes) -> str:
    message: Message = email.message_from_bytes(raw)
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_the_mail_says_how_it_was_chosen_and_marks_its_extras(app: FastAPI) -> None:
    store = app_store(app)
    user = accounts.sign_up(store, "mailreader", "a long enough password")
    sub = _sub(store, "mailreader@example.org", user.id, confidence="10")
    day = date(2025, 1, 7)
    everything = list(store.papers_by_key(list(range(1, 200))).values())

    def personal(s: Subscription, window: str) -> list[Scored]:
        return [Scored(p, {"blend": float(i), "content": 0.0}) for i, p in enumerate(everything)]

    report = compose(store, MailSettings("d <d@example.org>", BASE, SECRET), day, personal=personal,
                     rng=np.random.default_rng(9))  # fmt: skip
    assert report.queued == 1
    [item] = store.claim_due(datetime.now(UTC) + timedelta(days=1), 10, datetime.now(UTC))
    text = _mail_text(item.message)
    assert "Still learning what you like: 0 judged random picks" in text
    assert "A random pick from today's papers" in text and "Something new: " in text
    held = store.labelled_slots("probe", NOW - timedelta(days=3650), subscription_id=sub.id)
    assert held == []  # remembered, but not judged yet
    probe_id = text.split("A random pick from today's papers", 1)[1].split("arXiv:", 1)[1].split()[0]
    store.record_feedback(sub.id, probe_id, "not_for_me", datetime.now(UTC))
    [label] = store.labelled_slots("probe", NOW - timedelta(days=3650), subscription_id=sub.id)
    assert not label.relevant and set(label.scores) == {"blend", "content"}


# -- the controls ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"confidence": "50"}, "confidence must be 10, 20 or 30"),
        ({"confidence": "abc"}, "confidence must be 10, 20 or 30"),
        ({"confidence": "nan"}, "confidence must be 10, 20 or 30"),
        ({"confidence": "1e309"}, "confidence must be 10, 20 or 30"),
        ({"confidence": "-0.2"}, "confidence must be 10, 20 or 30"),
        ({"confidence": "x" * 100_000}, "confidence must be 10, 20 or 30"),
        ({"content": "trending", "confidence": "20"}, "confidence applies to digests picked for you"),
        ({"explore": "maybe"}, "explore must be on or off"),
    ],
)
def test_bad_controls_are_refused_by_name_and_change_nothing(app: FastAPI, fields: dict[str, str],
                                                             message: str) -> None:  # fmt: skip
    store = app_store(app)
    sub = _sub(store, "controls@example.org", None)
    token = links.sign(SECRET, "manage", sub.id)
    client = TestClient(app, base_url=BASE)
    page = client.get(f"/subscribe/manage?token={token}")
    form = {"csrf_token": csrf_of(page.text), "token": token, "frequency": "daily", "content": "for_you",
            "max_papers": "7", "explore": "1", **fields}  # fmt: skip
    answer = client.post("/subscribe/manage", data=form)
    assert answer.status_code == 400 and message in answer.text
    assert store.get_subscription(sub.id) == sub  # no partial write
    api = client.post("/api/subscriptions", json={"email": "api@example.org", "content": "for_you", **fields})
    assert 400 <= api.status_code < 500 and api.status_code != 404
    with pytest.raises(BadRequest, match=message.split(":")[0]):
        subs.preferences(**{"content": "for_you", **fields})


def test_the_manage_page_sets_the_level_and_exploration_and_says_what_feedback_taught(app: FastAPI) -> None:
    store = app_store(app)
    sub = _sub(store, "manage@example.org", None)
    assert sub.confidence is None and sub.explore
    store.upsert_papers([paper(11), paper(21)])
    for arxiv_id, said in (("2501.00001", "relevant"), ("2501.00011", "relevant"), ("2501.00021", "not_for_me")):
        store.record_feedback(sub.id, arxiv_id, said, NOW)  # three cs.LG papers
    token = links.sign(SECRET, "manage", sub.id)
    client = TestClient(app, base_url=BASE)
    page = client.get(f"/subscribe/manage?token={token}")
    assert "You marked 2 cs.LG papers relevant, 1 not." in page.text
    assert 'name="confidence" value="0.2"' in page.text and 'name="explore" value="1" checked' in page.text
    saved = client.post("/subscribe/manage", data={"csrf_token": csrf_of(page.text), "token": token,
                                                   "frequency": "daily", "content": "for_you", "max_papers": "5",
                                                   "confidence": "0.3"})  # fmt: skip
    assert saved.status_code == 200 and "at most 30% not for you" in saved.text
    changed = store.get_subscription(sub.id)
    assert changed is not None and changed.confidence == 0.3 and not changed.explore  # the box left unticked
    assert 'name="confidence" value="0.3" checked' in saved.text
    api = TestClient(app, base_url=BASE).post("/api/subscriptions", json={
        "email": "api-level@example.org", "content": "for_you", "confidence": 0.1, "explore": False})  # fmt: skip
    assert api.status_code == 202
    made = store.get_subscription(sub.id + 1)  # the next subscription made in this new store
    assert made is not None and made.email == "api-level@example.org"
    assert made.confidence == 0.1 and not made.explore
