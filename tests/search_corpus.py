"""A small corpus of distinct topics for search tests: each paper is about one thing, so the right answer
to a query is known."""

from __future__ import annotations

from datetime import date
from typing import Any

from paperfeed.models import Author, Paper

TOPICS = [
    ("Attention Is All You Need for Protein Folding",
     "We apply transformer attention to predict the three-dimensional structure of proteins from amino acid "
     "sequences, improving folding accuracy on standard benchmarks.", ["Ada Lovelace"], "q-bio.BM"),
    ("Graph Neural Networks for Traffic Forecasting",
     "We model road networks as graphs and forecast traffic speed with message passing neural networks over "
     "sensor readings collected every five minutes.", ["Grace Hopper", "Alan Turing"], "cs.LG"),
    ("Diffusion Models for High-Resolution Image Synthesis",
     "Denoising diffusion probabilistic models generate photorealistic images; we scale them to megapixel "
     "resolution with a latent space and cascaded upsamplers.", ["Yann LeCun"], "cs.CV"),
    ("Diffusion Models for Video Generation",
     "We extend image diffusion models to video, generating temporally coherent clips with a space-time "
     "denoising network.", ["Fei-Fei Li"], "cs.CV"),
    ("Reinforcement Learning for Robotic Grasping",
     "A robot arm learns to pick up unfamiliar objects by trial and error, trained with deep reinforcement "
     "learning in simulation and transferred to the real world.", ["Pieter Abbeel"], "cs.RO"),
    ("Large Language Models as Zero-Shot Reasoners",
     "Prompting large language models to think step by step elicits multi-step reasoning on arithmetic and "
     "commonsense benchmarks without any examples.", ["Takeshi Kojima"], "cs.CL"),
    ("Quantum Error Correction with Surface Codes",
     "We analyse logical error rates of surface codes on superconducting qubits and propose a faster decoder "
     "for fault-tolerant quantum computation.", ["John Preskill"], "quant-ph"),
    ("Federated Learning under Differential Privacy",
     "Clients train a shared model without sharing raw data; we add calibrated noise to the updates and bound "
     "the privacy loss across communication rounds.", ["Cynthia Dwork"], "cs.CR"),
    ("Speech Recognition with Self-Supervised Audio Representations",
     "Pretraining on unlabelled audio waveforms learns representations that cut the word error rate of speech "
     "recognisers with only ten minutes of transcribed speech.", ["Alexei Baevski"], "cs.CL"),
    ("Climate Model Downscaling with Convolutional Networks",
     "Coarse global climate simulations are refined to kilometre-scale precipitation maps with a convolutional "
     "super-resolution network.", ["Ada Lovelace"], "physics.ao-ph"),
]  # fmt: skip


def paper(n: int, **fields: Any) -> Paper:
    title, abstract, authors, category = TOPICS[n % len(TOPICS)]
    base: dict[str, Any] = {
        "arxiv_id": f"2501.{n:05d}",
        "title": title,
        "abstract": abstract,
        "authors": tuple(Author(a) for a in authors),
        "categories": (category,),
        "version": 1,
        "feed_date": date(2025, 1, 1 + n % 28) if n < 28 else date(2025, 2, 1 + n % 28),
        "source": "test",
    }
    base.update(fields)
    return Paper(**base)


def corpus() -> list[Paper]:
    return [paper(n) for n in range(len(TOPICS))]
