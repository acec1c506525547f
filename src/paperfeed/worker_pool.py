"""`paperfeed worker --processes N`: N worker processes on one machine, started and stopped together.

The processes share nothing but the database: each claims jobs from the queue on its own (so the backfill's
``embed-chunk`` jobs are embedded N at a time, each chunk by one process), and each computes with its share of
the cores (OMP_NUM_THREADS = cores / N, unless set), since N processes each using every core only thrash.
SIGTERM or Ctrl-C to the parent is passed on; every process stops after its current batch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

STOP_WAIT = 9.0  # seconds a stopping child gets before it is killed (a service manager allows 10)


def child_environment(processes: int, database_url: str, config_file: str | None) -> dict[str, str]:
    """The children's environment: the parent's settings, and their share of the cores."""
    env = {**os.environ, "PAPERFEED_DATABASE_URL": database_url}
    if config_file:
        env["PAPERFEED_CONFIG"] = config_file
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    return env


def run_pool(processes: int, arguments: Sequence[str], env: dict[str, str]) -> int:
    """Start ``processes`` `paperfeed worker` processes with ``arguments``, wait for all of them; stopped by
    SIGTERM / SIGINT (passed on). Returns the first non-zero exit status, or 0."""
    command = [sys.executable, "-m", "paperfeed", "worker", *arguments]
    children = [subprocess.Popen(command, env=env) for _ in range(processes)]  # noqa: S603 (our own command line)
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while any(child.poll() is None for child in children):
        time.sleep(0.2)
        if stopping:
            _reap(children)
    codes = [child.returncode for child in children]
    return next((code for code in codes if code), 0)


def _reap(children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + STOP_WAIT
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
