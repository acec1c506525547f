"""The "for you" feed over a real store, real MiniLM embeddings and the pages and API."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import csrf_of, new_database_url, present
from paperfeed import accounts, reader_actions
from paperfeed.config import load_settings
from paperfeed.http_edge import site
from paperfeed.models import Author, Paper, User
from paperfeed.recommend.interactions import fit_interactions
from paperfeed.recommend.refit import refit
from paperfeed.recommend.serve import ForYou
from paperfeed.search.embed_job import embed_papers
from paperfeed.store import Store
from paperfeed.web.app import create_app

DAY = date(2025, 6, 2)
TOPICS = {
    "gnn": [
        ("Message Passing Graph Neural Networks for Molecules",
         "We predict molecular properties with message passing neural networks over atom and bond graphs."),
        ("Scalable Graph Convolutional Networks for Citation Graphs",
         "Graph convolutions over large citation networks classify nodes with few labels."),
        ("Graph Attention Networks for Traffic Prediction",
         "Attention over road sensor graphs forecasts traffic with graph neural networks."),
        ("Over-Smoothing in Deep Graph Neural Networks",
         "We analyse why deep GNN layers make node representations indistinguishable."),
        ("Graph Transformers for Knowledge Graph Completion",
         "Transformers with graph structure encodings complete missing links in knowledge graphs."),
    ],
    "vision": [
        ("Diffusion Models for Image Synthesis",
         "Denoising diffusion generates photorealistic images at high resolution."),
        ("Vision Transformers for Object Detection",
         "Patch-based transformers detect objects in natural images."),
        ("Self-Supervised Learning of Image Features",
         "Contrastive pretraining learns visual features without labels."),
    ],
    "speech": [
        ("End-to-End Speech Recognition",
         "Neural acoustic models transcribe spoken audio into text."),
        ("Text to Speech with Neural Vocoders",
         "We synthesise natural sounding speech waveforms from text."),
    ],
    "quantum": [
        ("Quantum Error Correction with Surface Codes",
         "Logical qubits are protected by surface code decoders."),
        ("Variational Quantum Eigensolvers",
         "Hybrid quantum-classical optimisation estimates molecular ground state energies."),
    ],
}  # fmt: skip


def papers() -> list[Paper]:
    out, n = [], 0
    for items in TOPICS.values():
        for title, abstract in items:
            n += 1
            out.append(
                Paper(
                    f"2506.{n:05d}",
                    title=title,
                    abstract=abstract,
                    source="test",
                    upvotes=n % 3,
                    authors=(Author("W"),),
                    categories=("cs.LG",),
                    version=1,
                    feed_date=DAY,
                )
            )
    return out


def ids(topic: str) -> set[str]:
    start = 1 + sum(len(v) for k, v in TOPICS.items() if list(TOPICS).index(k) < list(TOPICS).index(topic))
    return {f"2506.{n:05d}" for n in range(start, start + len(TOPICS[topic]))}


def make_app(folder: Path, backend: str) -> FastAPI:
    settings = load_settings(
        base_url="http://testserver", database_url=new_database_url(backend, folder), data_dir=folder,
        secret_key="foryou-secret-" + "f" * 40, digest_schedule=False,
    )  # fmt: skip
    app = create_app(settings)
    site(app).services.store.migrate()
    site(app).services.store.upsert_papers(papers())
    embed_papers(site(app).services.store, site(app).services.engine.embedder)
    return app


@pytest.fixture
def app(tmp_path: Path, backend: str) -> FastAPI:
    """An instance of the test's own: one test's readers and votes never move another's recommendations."""
    return make_app(tmp_path, backend)


@pytest.fixture
def fitted_app(tmp_path: Path, backend: str) -> FastAPI:
    """An instance of its own for a test that runs the refit job, with 24 readers of one topic each."""
    made = make_app(tmp_path, backend)
    store = site(made).services.store
    topics = list(TOPICS)
    for n in range(24):  # each reader likes three papers of one topic (or both of a small one)
        user = reader(store, f"fit{n}")
        for arxiv_id in sorted(ids(topics[n % len(topics)]))[:3]:
            reader_actions.vote(store, user, arxiv_id, True)
    return made


def reader(store: Store, name: str) -> User:
    return accounts.sign_up(store, name, "a long password")


def test_a_graph_reader_gets_mostly_graph_papers(app: FastAPI) -> None:
    store, foryou = site(app).services.store, site(app).services.foryou
    user = reader(store, "gnnfan")
    reader_actions.vote(store, user, "2506.00001", True)
    picks = foryou.recommend(user, window="week", limit=4)
    got = [r.paper.arxiv_id for r in picks]
    assert "2506.00001" not in got  # never what they already upvoted
    assert len(set(got[:4]) & ids("gnn")) >= 3
    assert picks[0].reason.startswith("close to “Message Passing Graph Neural Networks")


def test_dismissed_papers_never_come_back(app: FastAPI) -> None:
    store, foryou = site(app).services.store, site(app).services.foryou
    user = reader(store, "picky")
    reader_actions.vote(store, user, "2506.00002", True)
    first = foryou.recommend(user, window="all", limit=20)[0].paper.arxiv_id
    reader_actions.dismiss(store, user, first)
    for window in ("day", "week", "all"):
        assert first not in [r.paper.arxiv_id for r in foryou.recommend(user, window=window, limit=50)]


def test_a_new_reader_with_only_interests_gets_sensible_results(app: FastAPI) -> None:
    store, foryou = site(app).services.store, site(app).services.foryou
    user = reader(store, "newcomer")
    assert foryou.recommend(user, window="week", limit=3)  # nothing known: still an answer (popular papers)
    reader_actions.set_interests(store, user, "speech recognition and speech synthesis")
    picks = foryou.recommend(user, window="week", limit=2)
    assert {r.paper.arxiv_id for r in picks} == ids("speech")
    assert picks[0].reason.startswith("matches your interests")


def test_readers_like_you_shape_the_blend_and_it_never_fails(app: FastAPI) -> None:
    store = site(app).services.store
    foryou = ForYou(store, site(app).services.engine, refit_after=0)  # sees the crowd's votes at once
    alone = reader(store, "alone")
    assert foryou.recommend(alone, window="all", limit=5) == []  # no history, no interests, nothing near
    crowd = [reader(store, f"crowd{n}") for n in range(4)]
    for user in crowd:  # everyone who likes the molecule paper also likes the quantum chemistry one
        reader_actions.vote(store, user, "2506.00001", True)
        reader_actions.vote(store, user, "2506.00012", True)
    me = reader(store, "me")
    reader_actions.vote(store, me, "2506.00001", True)
    picks = {r.paper.arxiv_id: (rank, r.reason) for rank, r in enumerate(foryou.recommend(me, window="week", limit=11))}
    rank, reason = picks["2506.00012"]  # its text is about quantum physics, far from my graph paper
    assert rank <= 2
    assert reason == "popular with readers like you"


def test_page_and_api_twin_agree_and_not_interested_works(app: FastAPI) -> None:
    client = TestClient(app)
    token = csrf_of(client.get("/signup").text)
    client.post("/signup", data={"csrf_token": token, "name": "webreader", "password": "a long password"})
    assert client.get("/for-you").status_code == 200
    page = client.get("/papers/2506.00006").text
    token = csrf_of(page)
    client.post("/papers/2506.00006/upvote", data={"csrf_token": token, "up": "1"})
    html = client.get("/for-you", params={"window": "week"}).text
    shown = re.findall(r'<li class="paper" data-id="([^"]+)"', html)
    api = client.get("/api/for_you", params={"window": "week", "limit": 30}).json()
    assert shown == [item["id"] for item in api]
    assert all(item["reason"] for item in api)
    first = shown[0]
    client.post(f"/papers/{first}/dismiss", data={"csrf_token": token, "window": "week"})
    assert first not in re.findall(r'data-id="([^"]+)"', client.get("/for-you").text)
    assert TestClient(app).get("/api/for_you").status_code == 401
    assert client.get("/api/for_you", params={"window": "year"}).json()["error"]["message"].startswith("window")


def test_for_you_digests_carry_the_readers_picks(app: FastAPI) -> None:
    from datetime import UTC, datetime

    from paperfeed.digest import run
    from paperfeed.digest import subscribe as subs
    from paperfeed.digest.compose import MailSettings
    from paperfeed.recommend.serve import digest_picks

    store = site(app).services.store
    user = reader(store, "digestreader")
    reader_actions.set_interests(store, user, "quantum computing")
    prefs = subs.preferences(content="for_you", max_papers="2")
    sub, _ = store.save_subscription("dr@example.org", prefs, user.id, datetime.now(UTC))
    store.confirm_subscription(sub.id, datetime.now(UTC))
    trending, _ = store.save_subscription("tr@example.org", subs.preferences(max_papers="2"), None, datetime.now(UTC))
    store.confirm_subscription(trending.id, datetime.now(UTC))
    mail = MailSettings("p <d@example.org>", "http://testserver", "k" * 40)
    report = run.compose(store, mail, DAY, personal=digest_picks(site(app).services.foryou))
    assert report.queued >= 2
    claimed = {m.recipient: m.message for m in store.claim_due(datetime.now(UTC), 100, datetime.now(UTC))}
    mine = claimed["dr@example.org"].decode()
    assert "picked for you" in mine
    assert "arXiv:2506.00011" in mine
    assert "arXiv:2506.00012" in mine  # the two quantum papers
    assert "trending" in claimed["tr@example.org"].decode().split("\r\n\r\n")[0]


def test_the_refit_job_fits_blend_weights_on_this_instance_and_readers_pick_them_up(fitted_app: FastAPI) -> None:
    from paperfeed.recommend.refit import BLEND_STATE

    app = fitted_app
    store = site(app).services.store
    said = refit(store, site(app).services.engine)
    assert re.match(r"collective model v1 fitted on \d+ readers x 12 papers", said), said
    fitted = re.search(r"blend weights \(content, graph, collective, popularity\) fitted on (\d+) readers", said)
    assert fitted, said
    assert int(fitted[1]) == 24
    stored = present(store.get_state(BLEND_STATE), "the fitted blend")
    assert stored["readers"] == int(fitted[1]) and stored["weights"]
    fresh = ForYou(store, site(app).services.engine, refit_after=0)
    fresh.reload()
    assert fresh.blend.weights == {int(b): tuple(w) for b, w in stored["weights"].items()}
    assert fresh.collective is not None and len(fresh.collective.keys) == len(papers())
    me = reader(store, "afterfit")
    reader_actions.vote(store, me, "2506.00001", True)
    assert len(set(r.paper.arxiv_id for r in fresh.recommend(me, window="week", limit=3)) & ids("gnn")) >= 2


def test_the_collective_model_takes_in_new_papers_and_new_upvotes_and_survives_a_bad_save(
    fitted_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    from paperfeed.recommend.collective import ARTIFACT

    store, engine = site(fitted_app).services.store, site(fitted_app).services.engine
    refit(store, engine)  # over the 24 readers
    late = Paper("2506.00099", title="Graph Neural Networks on Protein Residue Graphs",
                 abstract="Message passing graph neural networks over residue graphs predict protein function.",
                 authors=(Author("W"),), categories=("cs.LG",), version=1, feed_date=DAY, source="test")  # fmt: skip
    store.upsert_papers([late])  # after the fit: its factors come from its words and vector
    embed_papers(store, engine.embedder)
    foryou = ForYou(store, engine, refit_after=0)
    me = reader(store, "latecomer")
    reader_actions.vote(store, me, "2506.00003", True)  # after the fit: my factors are solved from it at once
    reader_actions.vote(store, me, "2506.00004", True)
    foryou.reload()
    assert foryou.collective is not None
    keys = store.paper_keys(["2506.00003", "2506.00004", "2506.00099", *ids("vision"), *ids("speech")])
    others = [keys[i] for i in sorted(ids("vision") | ids("speech"))]
    liked = [keys["2506.00003"], keys["2506.00004"]]
    scores = foryou.collective.score(liked, [keys["2506.00099"], *others], foryou._describe)
    assert scores is not None
    assert scores[0, 0] > scores[0, 1:].max()  # the new graph paper, for a reader of graph papers
    assert "2506.00099" in [r.paper.arxiv_id for r in foryou.recommend(me, window="week", limit=4)]
    store.save_artifact(ARTIFACT, {}, b"not a model")  # a broken save: served without the model, and said so
    foryou.reload()
    assert foryou.collective is None
    assert "unreadable" in caplog.text
    assert foryou.recommend(me, window="week", limit=4)


def test_the_refit_fits_on_the_newest_papers_and_the_touched_ones_and_folds_in_the_rest(
    fitted_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed.recommend import refit as refit_module

    store = site(fitted_app).services.store
    engine = site(fitted_app).services.engine
    monkeypatch.setattr(refit_module, "FIT_RECENT", 3)
    interactions = fit_interactions(store.interactions(), ())
    newest = set(store.newest_keys(None, 3))
    cat = refit_module.catalogue(store, engine, interactions)
    assert set(cat.keys.tolist()) == newest | set(interactions.papers)  # the bound: newest 3 plus the touched
    assert len(cat.keys) < len(papers())
    said = refit(store, engine)
    assert f"x {len(cat.keys)} papers" in said, said
    fresh = ForYou(store, engine, refit_after=0)
    fresh.reload()
    assert fresh.collective is not None and set(fresh.collective.keys.tolist()) == set(cat.keys.tolist())
    outside = [k for k in store.newest_keys(None, len(papers())) if k not in set(cat.keys.tolist())]
    assert outside, "some paper is outside the fit"
    me = reader(store, "bounded")
    reader_actions.vote(store, me, "2506.00001", True)
    picks = fresh.recommend(me, window="week", limit=len(papers()))
    assert {store.paper_keys([r.paper.arxiv_id])[r.paper.arxiv_id] for r in picks} & set(outside)  # folded in


def test_the_collective_factors_are_one_float16_file_that_every_process_maps(fitted_app: FastAPI) -> None:
    import numpy as np

    store, engine = site(fitted_app).services.store, site(fitted_app).services.engine
    refit(store, engine)
    one, two = ForYou(store, engine, refit_after=0), ForYou(store, engine, refit_after=0)
    one.reload(), two.reload()
    folder = engine.vectors.folder.parent / "collective"
    [file] = folder.glob("collective-*.npy")
    assert one.collective is not None and two.collective is not None
    for model in (one.collective, two.collective):
        factors = model.mf.item_factors
        assert isinstance(factors, np.memmap) and factors.dtype == np.float16 and str(factors.filename) == str(file)
    later = reader(store, "later")
    for arxiv_id in sorted(ids("gnn"))[:2]:
        reader_actions.vote(store, later, arxiv_id, True)
    refit(store, engine)  # a new model: a new file, the old one removed once a process has moved on
    one.reload()
    assert one.collective is not None
    [newer] = folder.glob("collective-*.npy")
    assert newer != file
    me = reader(store, "mapped")
    reader_actions.vote(store, me, "2506.00001", True)
    assert two.recommend(me, window="week", limit=3)  # the process still on the old map keeps serving
