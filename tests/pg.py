"""A PostgreSQL server for the tests: ``$HARNESS_TEST_PG_URL``'s, or a throwaway one.

The throwaway server is made once a session, the first time a test asks for it: ``initdb``
into a temp folder (owned by the ``postgres`` user when the tests run as root, which
PostgreSQL refuses to run as), ``pg_ctl start`` listening on 127.0.0.1 at a free port and on
a unix socket in that folder, with durability off (nothing in it outlives the session),
and stopped at the end. Its default collation is ICU's en-US, as on a typical team server,
so a query that sorts by the locale instead of byte order shows. Each test gets a database
of its own (``CREATE DATABASE``, dropped after it).

``HARNESS_TEST_PG_URL`` (e.g. ``postgresql://postgres@localhost:5432/postgres``, a role that
may create databases) uses that server instead. Without either, the tests that need
PostgreSQL skip, except in CI (``CI`` set), where they fail: CI must run them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import psycopg


class PgServer:
    """Fresh databases on one server, made and dropped through ``admin_url``'s database."""

    def __init__(self, admin_url: str) -> None:
        self.url = make_url(admin_url).set(drivername="postgresql+psycopg")

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A connection to the admin database (closed by its ``with`` block)."""
        import psycopg

        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(dsn, autocommit=True)

    def create_database(self) -> str:
        """A new empty database's URL (``postgresql+psycopg://...``)."""
        name = f"harness_test_{secrets.token_hex(4)}"
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def pg_binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else the newest Debian install."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    return installed[-1].parent if installed else None


@contextlib.contextmanager
def throwaway_server(binaries: Path, *, durable: bool = False) -> Iterator[str]:
    """A server of its own in a temp folder, for the ``with`` block; yields its admin URL.
    ``durable``: fsync on, as a real server (a benchmark's); else off (tests: faster)."""
    root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    as_root = os.geteuid() == 0
    if as_root:  # PostgreSQL will not run as root
        shutil.chown(root, "postgres")
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> None:
        done = subprocess.run([*run_as, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr}{done.stdout}{tail}")

    try:
        icu = ["--locale-provider=icu", "--icu-locale=en-US"]
        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", *icu)  # fmt: skip
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options,
            "start")  # fmt: skip
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (see the module's docstring)."""
    given = os.environ.get("HARNESS_TEST_PG_URL")
    if given:
        yield PgServer(given)
        return
    binaries = pg_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; CI must run the PostgreSQL store tests")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql) and "
                    "HARNESS_TEST_PG_URL is unset")  # fmt: skip
    with throwaway_server(binaries) as url:
        yield PgServer(url)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for a store or a cache, once on each backend: a SQLite file's URL,
    then a PostgreSQL database's."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    return str(request.getfixturevalue("pg_url"))
