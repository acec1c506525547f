"""A throwaway PostgreSQL server on 127.0.0.1 for the tests and benchmarks.

The server binaries come from the `pgserver` wheel (PostgreSQL 16 with pgvector; a dev dependency), else from
Debian's `postgresql` package. ``initdb`` makes a cluster in a temporary folder and ``pg_ctl`` starts it on a free
loopback port with durability off (a test database is thrown away anyway). PostgreSQL refuses to run as root, so
under root the cluster belongs to an unprivileged system user, made when missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SERVER_USER = "paperfeed-pg"


def find_binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None."""
    spec = importlib.util.find_spec("pgserver")  # located, not imported: importing it has side effects
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (folder / "pg_ctl").exists():
            return folder
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "pg_ctl").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _open_up(path: Path) -> None:
    """Let the server's user reach ``path``: every folder above it gets o+x, the folder itself o+rx."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        folder.chmod(mode | 0o005 if folder == path else mode | 0o001)


class Cluster:
    """A running PostgreSQL server; ``new_database()`` gives each caller an empty database."""

    def __init__(self, binaries: Path, folder: Path | None = None, shared_buffers: str = "256MB") -> None:
        """``folder``: where the cluster lives and stays (a benchmark that resumes); default a temporary one,
        removed by :meth:`stop`. ``shared_buffers``: the server's own page cache."""
        self.binaries, self.shared_buffers = binaries, shared_buffers
        self.keep = folder is not None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder or Path(tempfile.mkdtemp(prefix="paperfeed-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.user: str | None = None
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            self.user = SERVER_USER
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True)
            _open_up(self.folder)
            _open_up(binaries.parent)
            shutil.chown(self.folder, SERVER_USER)

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=self.user, timeout=120)

    def start(self) -> Cluster:
        if not (self.data / "PG_VERSION").exists():
            self._run(
                str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "--encoding=UTF8", "--locale=C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "--no-locale",
            )  # fmt: skip
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c synchronous_commit=off "
            f"-c full_page_writes=off -c max_connections=200 -c shared_buffers={self.shared_buffers}"
        )
        self._run(
            str(self.binaries / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-o", options,
            "start",
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """An empty database of its own; its URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast" if self.keep else "immediate",
                      "-w", "stop")  # fmt: skip
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster(folder: Path | None = None, shared_buffers: str = "256MB") -> Cluster | None:
    """A started cluster (kept in ``folder`` when given), or None where no PostgreSQL binaries are installed."""
    binaries = find_binaries()
    return Cluster(binaries, folder, shared_buffers).start() if binaries is not None else None
