"""Where documents are embedded: the CPU here (the CPU torch wheel), a CUDA GPU when torch sees one."""

from __future__ import annotations

import pytest

from paperfeed.config import load_settings
from paperfeed.errors import BadRequest, PaperfeedError
from paperfeed.search import embed
from paperfeed.search.embed import Embedder
from paperfeed.search.embed_job import choose_path
from paperfeed.store import Store


def test_auto_is_the_cpu_without_a_gpu_and_cuda_asked_for_says_why_it_cannot() -> None:
    assert not embed.cuda_available()
    assert Embedder().device == "cpu" and Embedder(device="cpu").device == "cpu"
    with pytest.raises(PaperfeedError, match="torch sees no CUDA GPU"):
        _ = Embedder(device="cuda").device
    with pytest.raises(PaperfeedError, match="device must be auto, cpu or cuda"):
        Embedder(device="gpu")  # type: ignore[arg-type]


def test_the_setting_is_checked() -> None:
    with pytest.raises(BadRequest, match="embed_device"):
        load_settings(embed_device="tpu")
    assert load_settings(embed_device="cuda").embed_device == "cuda"


def test_with_a_gpu_the_self_check_is_skipped_and_the_path_says_so(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embed, "cuda_available", lambda: True)
    embedder = Embedder()
    assert embedder.device == "cuda"
    assert choose_path(store, embedder) == {"precision": "fp16", "device": "cuda",
                                            "reason": "a CUDA GPU: fp16, batches of 256"}  # fmt: skip
    assert embedder._models == {}  # nothing was timed on the CPU
    assert Embedder(device="cpu").device == "cpu"  # an explicit cpu holds even with a GPU
