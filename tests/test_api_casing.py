"""One casing in the native API: every field name of every native route's JSON is camelCase (the Hugging Face
API's own ``_id``, ``ai_summary`` and ``ai_keywords`` fields aside, spelled as the Hub spells them in the paper
objects that native routes reuse), walked over the real answers of a signed-in script."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import corpus_app
from paperfeed import accounts, reader_actions
from paperfeed.http_edge import site
from paperfeed.search.embed_job import embed_papers

CAMEL = re.compile(r"^(_id|ai_summary|ai_keywords|[a-z][a-zA-Z0-9]*)$")
# values for the path parameters of the native routes
PATH_VALUES = {"arxiv_id": "2501.00002", "name": "casing", "slug": "reading", "comment_id": "1", "fmt": "bib"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[FastAPI]:
    made = corpus_app(tmp_path_factory.mktemp("casing"), backend)
    services = site(made).services
    embed_papers(services.store, services.embedder)
    yield made
    services.close()


def keys_of(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, key) for every key of every object in a JSON value."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield path, key
            yield from keys_of(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for inner in value:
            yield from keys_of(inner, f"{path}[]")


def native_gets(app: FastAPI) -> list[str]:
    paths = []
    for template, operations in app.openapi()["paths"].items():
        get = operations.get("get")
        # exports are files in formats of their own (CSL-JSON spells its fields as its spec does)
        if template.startswith("/api") and get and "(native" in get.get("summary", "") and "export." not in template:
            paths.append(re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], template))
    return paths


def test_every_native_route_answers_in_camel_case(app: FastAPI) -> None:
    store = site(app).services.store
    user = accounts.sign_up(store, "casing", "a long password")
    secret, _ = accounts.create_token(store, user, "casing test")
    reader_actions.vote(store, user, "2501.00001", True)
    reader_actions.comment(store, user, "2501.00002", "a *comment*")
    made = reader_actions.create_collection(store, user, "Reading", True)
    reader_actions.set_in_collection(store, user, made.owner, made.slug, "2501.00003", True)
    client = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    answers = {
        path: client.get(path, params={"q": "diffusion"} if "search" in path else None) for path in native_gets(app)
    }
    answers["POST /api/papers/2501.00004/upvote"] = client.post("/api/papers/2501.00004/upvote")
    answers["POST /api/collections"] = client.post("/api/collections", json={"name": "Another"})
    answers["POST /api/subscriptions"] = client.post("/api/subscriptions", json={"email": "casing@example.org"})
    answers["an error"] = client.get("/api/feed", params={"date": "soon"})
    assert len(answers) >= 12
    for where, response in answers.items():
        assert response.status_code < 500, (where, response.text[:200])
        wrong = [f"{path}.{key}" for path, key in keys_of(response.json()) if not CAMEL.match(key)]
        assert not wrong, (where, wrong)
    assert answers["/api/search"].json()["results"], "the walk saw real results, not only empty lists"
