"""`paperfeed worker --processes N`: N worker processes on one machine, started and stopped together; and
`--processes auto` (the default): one worker, plus the helper processes for the backfill's chunks that the
embedding self-check found faster on this CPU.

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
from collections.abc import Callable, Sequence
from types import FrameType

from paperfeed.search.embed_job import CHUNK_KIND

STOP_WAIT = 9.0  # seconds a stopping child gets before it is killed (a service manager allows 10)
LOOK_EVERY = 5.0  # seconds between two looks for the self-check's plan (auto)
SHARE_FLAG = "--share-cores"  # tells a worker that helpers embed chunks beside it (hidden option)
Plan = tuple[int, int]  # (processes, torch threads each)


def child_environment(
    processes: int, database_url: str, config_file: str | None, *, threads: bool = True
) -> dict[str, str]:
    """The children's environment: the parent's settings, and (``threads``) their share of the cores."""
    env = {**os.environ, "PAPERFEED_DATABASE_URL": database_url}
    if config_file:
        env["PAPERFEED_CONFIG"] = config_file
    if threads:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    return env


def machine_threads() -> int:
    """The torch threads a worker started here computes with: OMP_NUM_THREADS when set, else the cores."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else os.cpu_count() or 1


def _start(arguments: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "paperfeed", "worker", *arguments, "--processes=1"]  # each child is one worker
    return subprocess.Popen(command, env=env)  # noqa: S603 (our own command line)


def run_pool(processes: int, arguments: Sequence[str], env: dict[str, str]) -> int:
    """Start ``processes`` `paperfeed worker` processes with ``arguments``, wait for all of them; stopped by
    SIGTERM / SIGINT (passed on). Returns the first non-zero exit status, or 0."""
    children = [_start(arguments, env) for _ in range(processes)]
    stopping = _forward_stop(children)
    while any(child.poll() is None for child in children):
        time.sleep(0.2)
        if stopping():
            _reap(children)
    codes = [child.returncode for child in children]
    return next((code for code in codes if code), 0)


def run_auto(
    arguments: Sequence[str], env: dict[str, str], plan: Callable[[], Plan | None], say: Callable[[str], None],
    *, look_every: float = LOOK_EVERY,
) -> int:  # fmt: skip
    """One `paperfeed worker` with ``arguments`` (the lead, with every core), then, once ``plan()`` (the
    embedding self-check, remembered in the store) says N processes of T threads embed faster than one, N - 1
    helpers that run only backfill chunks with T threads each, beside the lead (whose chunks then take T threads
    too). Stopped by SIGTERM / SIGINT (passed on); ends when the lead does, with its exit status."""
    children = [_start([*arguments, SHARE_FLAG], env)]
    stopping = _forward_stop(children)
    looked = -look_every
    while children[0].poll() is None:
        time.sleep(0.2)
        if stopping():
            _reap(children)
        elif len(children) == 1 and time.monotonic() - looked >= look_every:
            looked = time.monotonic()
            decided = plan()
            if decided is not None and decided[0] > 1:
                processes, each = decided
                say(f"The self-check's plan: {processes} processes of {each} threads; starting {processes - 1} "
                    f"helper{'s' if processes > 2 else ''} for the backfill's chunks.")  # fmt: skip
                # the lead's options but its kinds: a helper runs chunks only
                helping = [*(a for a in arguments if not a.startswith("--kind=")), f"--kind={CHUNK_KIND}", SHARE_FLAG]
                children += [_start(helping, {**env, "OMP_NUM_THREADS": str(each)}) for _ in range(processes - 1)]
            elif decided is not None:
                looked = float("inf")  # one process is fastest here: nothing more to start
    for helper in children[1:]:
        if helper.poll() is None:
            helper.send_signal(signal.SIGTERM)
    _reap(children)
    return children[0].returncode or 0


def _forward_stop(children: list[subprocess.Popen[bytes]]) -> Callable[[], bool]:
    """Pass SIGTERM / SIGINT on to ``children`` (also those added to the list later); the returned function says
    whether one came."""
    stopped = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopped
        stopped = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return lambda: stopped


def _reap(children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + STOP_WAIT
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
