"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl on a free loopback port (another
one when the bind fails; Debian's `postgresql`, installed by .ci/run). Skips when initdb is absent, fails instead when
PILOTPACK_REQUIRE_REAL_DATA=1 (CI installs it).

    with postgres_cluster() as url:   # postgresql://postgres@127.0.0.1:<port>/postgres
        create_database(url, "mlflow")
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import PortTaken, on_a_free_port, port_taken


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps it off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def require_postgres() -> Path:
    found = bin_dir()
    if found is None:
        reason = "PostgreSQL's initdb is absent (apt-get install postgresql)"
        if os.environ.get("PILOTPACK_REQUIRE_REAL_DATA") == "1":
            pytest.fail(reason + " and PILOTPACK_REQUIRE_REAL_DATA=1")
        pytest.skip(reason)
    return found


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a new cluster (trust auth, loopback only, fsync off) and yield its URL; stop it
    and delete its files on exit."""
    bins = require_postgres()
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="pilotpack-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the package's user then
        import pwd

        pw = pwd.getpwnam("postgres")
        for p in (base, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        base.chmod(0o755)
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, timeout=120)

    run(str(bins / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    log = base / "log"

    def start(port: int) -> int:
        seen = log.stat().st_size if log.exists() else 0
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        try:
            run(str(bins / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-l", str(log), "start")
        except subprocess.CalledProcessError:
            if port_taken(log.read_text(errors="replace")[seen:]):
                raise PortTaken(port) from None
            raise
        return port

    port = on_a_free_port(start)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bins / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """CREATE DATABASE on the cluster of `url`; the new database's URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
