"""Where documents are embedded: the CPU here (the CPU torch wheel), a CUDA GPU when torch sees one."""

from __future__ import annotations

import subprocess
import sys

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


# In a fresh interpreter (scikit-learn and torch not yet imported): stop_words, run while another thread holds the
# import lock (as while it imports torch), imports nothing until the lock is let go, then finishes.
_IMPORTS_WAIT = """
import sys, threading
from paperfeed.search import embed, keyphrases
assert "sklearn" not in sys.modules and "torch" not in sys.modules
embed.IMPORT_LOCK.acquire()
loader = threading.Thread(target=keyphrases.stop_words)
loader.start()
loader.join(1.0)
print("while held:", loader.is_alive(), "sklearn" in sys.modules)
embed.IMPORT_LOCK.release()
loader.join(120)
print("after:", loader.is_alive(), "and" in keyphrases.stop_words())
embed.load_torch()
print("torch:", embed.IMPORT_LOCK.acquire(timeout=5))
"""


def test_scikit_learn_is_not_imported_while_torch_is() -> None:
    # scipy.stats (through scikit-learn) reads torch.Tensor as it imports: from another thread it once saw torch
    # half-imported and failed ("partially initialized module 'torch'") at a web process's start.
    done = subprocess.run([sys.executable, "-c", _IMPORTS_WAIT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["while held: True False", "after: False True", "torch: True"]
