"""Load on the production server with the 120,045 arXiv papers: req/s, p50, p99 and errors per page.

    .venv/bin/python bench/web_load.py [--cache ~/.cache/paperfeed-bench] [--seconds 30] [--connections 32]
                                       [--workers 2]

Serves the store that bench/search_latency.py builds under --cache (papers imported and embedded; run that
first) with `paperfeed serve` (uvicorn, --workers processes, access log off, a random secret key), then drives
it from a second process with wrk (Debian's package: apt-get install wrk) on 127.0.0.1: --connections open
connections for --seconds on each of

* ``/healthz``: a trivial endpoint of the same server, the framework's ceiling;
* ``/``: the latest day's feed (cached for anonymous readers, as in production);
* ``/papers/{id}``: a paper page (with its similar papers from the vector index), a different paper each request;
* ``/api/daily_papers``: the Hugging Face compatible JSON feed;
* ``/search?q=``: hybrid search, a different query each request.

Prints, per URL, requests/s, p50 and p99 latency, errors (socket errors and non-2xx/3xx answers), and req/s as a
ratio of the ceiling. Goals (issue 4): 0 errors; cached feed pages >= 0.5 of the ceiling; p99 <= 100 ms for feed
pages and the API. Goals (issue 21, the reading interface): the cached day page and /api/daily_papers at least
0.7 of the ceiling with p99 under 20 ms; with --connections 1, the uncached paper page (similar papers, "also
upvoted", collections) p50 under 30 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from paperfeed.store import open_store

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QUERIES = [
    "graph neural networks", "diffusion models for video", "large language model reasoning",
    "retrieval augmented generation", "vision transformers", "protein structure prediction", "speculative decoding",
    "3d gaussian splatting", "federated learning privacy", "time series forecasting",
]  # fmt: skip

# wrk picks the next path from a list for every request (papers, queries).
ROTATE_LUA = """
paths = {%s}
i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wait_until_up(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not answer at {url} within {seconds:.0f} s")


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(url: str, seconds: int, connections: int, paths: list[str] | None) -> dict[str, float]:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if paths:
            script.write(ROTATE_LUA % ", ".join(f'"{p}"' for p in paths))
            command += ["-s", script.name]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.M))
    parsed = {k: to_ms(*re.match(r"([\d.]+)(\w+)", v).groups()) for k, v in lat.items()}  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non2xx.group(1)) if non2xx else 0
    return {"rate": rate, "p50": parsed["50"], "p99": parsed["99"], "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "paperfeed-bench")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    database = args.cache / "arxiv.db"
    if not database.exists():
        raise SystemExit(f"{database} is missing: run bench/search_latency.py first (it imports and embeds)")
    env = {**os.environ, "PAPERFEED_DATABASE_URL": f"sqlite:///{database}",
           "PAPERFEED_INDEX_DIR": str(args.cache / "arxiv-index"), "PAPERFEED_SECRET_KEY": secrets.token_urlsafe(48),
           "PAPERFEED_WRITES_PER_MINUTE": "1000000"}  # fmt: skip
    store = open_store(env["PAPERFEED_DATABASE_URL"])
    store.migrate()
    latest = store.latest_feed_date()
    keys = random.Random(4).sample(range(1, store.stats().papers + 1), 200)
    ids = [p.arxiv_id for p in store.papers_by_key(keys).values()]
    store.close()
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [str(BIN / "paperfeed"), "serve", "--port", str(args.port), "--workers", str(args.workers)], env=env
    )
    try:
        wait_until_up(base + "/healthz")
        for warm in ["/", f"/papers/{ids[0]}", "/api/daily_papers", "/search?q=warm+up"]:
            for _ in range(4):  # every worker loads its indexes and model before the clock starts
                urllib.request.urlopen(base + warm, timeout=60).read()
        run_wrk(base + "/healthz", 5, args.connections, None)  # let both workers and wrk settle; not counted
        targets = [
            ("/healthz (ceiling)", "/healthz", None),
            ("/ (latest day, cached)", "/", None),
            ("/papers/{id}", "/", [f"/papers/{i}" for i in ids]),
            ("/api/daily_papers", "/api/daily_papers", None),
            ("/search?q= (hybrid)", "/", [f"/search?q={q.replace(' ', '+')}" for q in QUERIES]),
        ]
        wrk = f"wrk -t{min(2, args.connections)} -c{args.connections} -d{args.seconds}s"
        print(f"120k papers, latest day {latest}; {wrk} on 127.0.0.1; paperfeed serve --workers {args.workers}")
        print(f"{'url':<26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'of ceiling':>12}")
        ceiling = None
        for label, path, rotate in targets:
            figures = run_wrk(base + path, args.seconds, args.connections, rotate)
            ceiling = ceiling or figures["rate"]
            print(f"{label:<26}{figures['rate']:>9.0f}{figures['p50']:>9.1f}{figures['p99']:>9.1f}"
                  f"{figures['errors']:>8.0f}{figures['rate'] / ceiling:>12.2f}", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
