"""Digest throughput: 10,000 confirmed subscribers over the 120,045 arXiv papers, composed and delivered to a
local SMTP sink.

    .venv/bin/python bench/digest.py [--cache ~/.cache/paperfeed-bench] [--subscribers 10000]

Copies the store bench/search_latency.py (or bench/ingest.py) built under --cache to a temporary file, adds
--subscribers confirmed subscriptions (60 % daily, 40 % weekly on the edition day; a third filtered by category,
a fifth by keywords, 5-20 papers each), starts aiosmtpd's Sink handler in a second process on 127.0.0.1, and
times `paperfeed digest send`'s two steps in this process: compose (every mail rendered into the outbox) and
deliver (over one SMTP connection, the per-minute limit lifted). Prints the total time, mails/s and this
process's peak RSS. Goal (issue 5): all 10,000 composed and delivered in at most 120 s.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from paperfeed.digest.compose import MailSettings
from paperfeed.digest.run import compose
from paperfeed.digest.send import SmtpSender, SmtpSettings, deliver
from paperfeed.digest.subscribe import preferences
from paperfeed.store import Store, open_store

CATEGORIES = ["cs.CL", "cs.CV", "cs.LG", "cs.AI", "cs.RO", "stat.ML", "cs.IR", "eess"]
KEYWORDS = ["diffusion", "transformer", "graph", "reinforcement", "retrieval", "language", "robot", "quantum"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_subscribers(store: Store, count: int, weekday: int) -> None:
    rng = random.Random(5)
    now = datetime.now(UTC)
    for n in range(count):
        weekly = rng.random() < 0.4
        prefs = preferences(
            "weekly" if weekly else "daily", weekday,
            " ".join(rng.sample(CATEGORIES, 2)) if rng.random() < 0.33 else "",
            " ".join(rng.sample(KEYWORDS, 2)) if rng.random() < 0.2 else "",
            rng.randint(5, 20),
        )  # fmt: skip
        sub, _ = store.save_subscription(f"reader{n}@bench.example.org", prefs, None, now)
        store.confirm_subscription(sub.id, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "paperfeed-bench")
    parser.add_argument("--subscribers", type=int, default=10_000)
    args = parser.parse_args()
    source = args.cache / "arxiv.db"
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/search_latency.py first (it imports the 120k papers)")
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "digest.db"
        shutil.copy(source, database)
        store = open_store(f"sqlite:///{database}")
        store.migrate()
        day = store.latest_feed_date()
        assert day is not None
        started = time.perf_counter()
        add_subscribers(store, args.subscribers, day.weekday())
        print(f"{args.subscribers:,} subscribers added in {time.perf_counter() - started:.1f} s (not timed below)")
        port = free_port()
        sink = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"]
        )
        try:
            time.sleep(1.5)
            mail = MailSettings("paperfeed <digest@bench.example.org>", "https://papers.example.org", "k" * 48)
            started = time.perf_counter()
            composed = compose(store, mail, day)
            composed_at = time.perf_counter()
            report = deliver(store, SmtpSender(SmtpSettings(port=port)), per_minute=10_000_000)
            finished = time.perf_counter()
        finally:
            sink.terminate()
            sink.wait()
        total = finished - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"editions {', '.join(composed.editions)}; {composed.queued:,} mails composed "
              f"({composed.empty:,} subscribers had no matching paper)")  # fmt: skip
        print(f"compose {composed_at - started:.1f} s, deliver {finished - composed_at:.1f} s: "
              f"{report.sent:,} delivered, {report.failed + report.retried} not")  # fmt: skip
        print(f"total {total:.1f} s, {report.sent / total:,.0f} mails/s, peak RSS {peak:,.0f} MiB "
              f"(goal: all composed and delivered within 120 s)")  # fmt: skip
        store.close()


if __name__ == "__main__":
    main()
