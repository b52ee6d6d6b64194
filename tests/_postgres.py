"""
A throwaway PostgreSQL cluster in a temporary folder, from the system's server programs
(``initdb``, ``pg_ctl``), for the distributed tests and benchmarks.

PostgreSQL refuses to run as root: when this runs as root, the cluster runs as an
unprivileged account (``postgres`` if it exists, else ``nobody``) through ``runuser``,
with the folder handed to it.  The server listens on a unix socket in that folder only
(no TCP port to collide with), trusts local connections, and skips fsync: the tests
kill workers, never the database.

Where the server programs are missing, :func:`unavailable` says why, and the tests skip
with that reason, unless ``A1ART_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which turns
the skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Set to 1 (CI does) to fail instead of skipping where PostgreSQL is missing.
REQUIRE = "A1ART_REQUIRE_POSTGRES"


def _programs() -> tuple[str, str] | None:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    # Debian keeps the server programs off PATH.
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists() and (root / "pg_ctl").exists():
            return str(root / "initdb"), str(root / "pg_ctl")
    return None


def _account() -> str | None:
    """
    The unprivileged account to run the server as, when this process is root.
    """
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


def unavailable() -> str | None:
    """
    Why no throwaway cluster can be started here, or ``None`` if one can.
    """
    if _programs() is None:
        return "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0 and (_account() is None or shutil.which("runuser") is None):
        return "running as root without an unprivileged account and runuser for PostgreSQL"
    try:
        import procrastinate  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError:
        return "the postgres extra (procrastinate, psycopg) is not installed"
    return None


def required() -> bool:
    """
    Whether a missing PostgreSQL must fail the run instead of skipping.
    """
    return os.environ.get(REQUIRE, "") not in ("", "0")


@contextlib.contextmanager
def cluster(*, max_connections: int = 200) -> Iterator[str]:
    """
    Start a cluster in a new temporary folder; yield its DSN; stop it and remove the
    folder on the way out.
    """
    programs = _programs()
    assert programs is not None, unavailable()
    initdb, pg_ctl = programs
    account = _account()
    prefix = ["runuser", "-u", account, "--"] if account else []
    folder = Path(tempfile.mkdtemp(prefix="a1pg-"))
    data = folder / "data"
    if account:
        entry = pwd.getpwnam(account)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o755)
    log = folder / "server.log"
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-U", "a1art", "-A", "trust", "--no-sync"],
            check=True,
            capture_output=True,
            cwd=folder,
        )
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{folder}'"
            f" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            f" -c max_connections={max_connections}"
        )
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
            check=True,
            capture_output=True,
            cwd=folder,
        )
        try:
            yield f"postgresql://a1art@/postgres?host={folder}"
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                check=False,
                capture_output=True,
                cwd=folder,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def database(dsn: str, name: str) -> Iterator[str]:
    """
    A fresh database *name* on the cluster at *dsn*; yields its DSN.
    """
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    yield dsn.replace("/postgres?", f"/{name}?")


def _fixtures() -> tuple[object, object]:
    import itertools

    import pytest

    numbers = itertools.count()

    @pytest.fixture(scope="session")
    def postgres_cluster() -> Iterator[str]:
        """
        One throwaway cluster for the test session (the module that imports it).
        """
        reason = unavailable()
        if reason is not None:
            if required():
                pytest.fail(f"{REQUIRE} is set but {reason}")
            pytest.skip(reason)
        with cluster() as dsn:
            yield dsn

    @pytest.fixture
    def dsn(postgres_cluster: str) -> Iterator[str]:
        """
        A fresh, empty database on the session's cluster.
        """
        with database(postgres_cluster, f"t{os.getpid()}_{next(numbers)}") as url:
            yield url

    return postgres_cluster, dsn


postgres_cluster, dsn = _fixtures()
