"""The shipped Alembic migrations: a new database is made as they make it, on SQLite and on
PostgreSQL; a database ahead of this harness is refused; opening a current one imports
neither Alembic nor anything of PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from harness.errors import StoreError
from harness.results.db import MIGRATIONS, alembic_config
from harness.results.store import RESULTS_HEAD, ResultStore
from harness.runner.cache import CACHE_HEAD, ResponseCache
from tests.pg import PgServer


def schema(url: str) -> dict[str, Any]:
    """Every table's columns (by name: PostgreSQL adds a column last), keys, and the
    versions."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            there = sa.inspect(conn)
            found: dict[str, Any] = {}
            for table in there.get_table_names():
                columns = there.get_columns(table)
                keys = there.get_foreign_keys(table)
                found[table] = (
                    sorted((c["name"], repr(c["type"]), c["nullable"]) for c in columns),
                    there.get_pk_constraint(table)["constrained_columns"],
                    [(k["constrained_columns"], k["referred_table"]) for k in keys],
                )
            versions = conn.scalars(sa.text("SELECT version_num FROM alembic_version"))
            found["versions"] = sorted(versions)
    finally:
        engine.dispose()
    return found


def columns(url: str, table: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [c["name"] for c in sa.inspect(conn).get_columns(table)]
    finally:
        engine.dispose()


def migrate(url: str, *targets: str, downgrade: bool = False) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for target in targets:
                step = command.downgrade if downgrade else command.upgrade
                step(alembic_config(conn), target)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """Two fresh databases on one backend."""
    if request.param == "sqlite":
        return [f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db")]
    server: PgServer = request.getfixturevalue("pg_server")
    urls = [server.create_database() for _ in range(2)]
    request.addfinalizer(lambda: [server.drop_database(u) for u in urls])
    return urls


def test_the_heads_are_the_revisions_the_code_reads() -> None:
    script = ScriptDirectory(str(MIGRATIONS))
    assert script.get_revision("results@head").revision == RESULTS_HEAD  # type: ignore[union-attr]
    assert script.get_revision("cache@head").revision == CACHE_HEAD  # type: ignore[union-attr]
    for branch in ("results", "cache"):  # each branch's revision ids start with its name
        revisions = script.iterate_revisions(f"{branch}@head", "base")
        assert all(r.revision.startswith(f"{branch}_") for r in revisions)


def test_a_new_database_is_made_as_the_migrations_make_it(two_urls: list[str]) -> None:
    """The store and the cache in one database: made from the code's tables, and migrated
    from nothing (then down to nothing and up again): the same tables, keys and versions."""
    made, migrated = two_urls
    ResultStore(made).close()
    ResponseCache(made).close()
    migrate(migrated, "results@head", "cache@head")
    assert schema(made) == schema(migrated)
    assert schema(made)["versions"] == sorted([RESULTS_HEAD, CACHE_HEAD])
    if made.startswith("sqlite"):  # the digest before the large record, both ways
        order = ["run_id", "case_id", "errored", "digest", "record"]
        assert columns(made, "results") == columns(migrated, "results") == order
    migrate(migrated, "results@base", "cache@base", downgrade=True)
    assert schema(migrated) == {
        "alembic_version": schema(migrated)["alembic_version"],
        "versions": [],
    }
    migrate(migrated, "results@head", "cache@head")
    assert schema(made) == schema(migrated)


def test_a_database_from_a_newer_harness_is_refused(store_url: str) -> None:
    ResultStore(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'results_9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="revision results_9999, which this harness does not"):
        ResultStore(store_url)


LOOK = """
import sys, tempfile
from harness.results.store import ResultStore
from harness.runner.cache import ResponseCache
folder = tempfile.mkdtemp()
for _ in range(2):  # new, then current
    ResultStore(folder + "/results.db").close()
    ResponseCache(folder + "/cache.db").close()
print(sorted({m.split(".")[0] for m in sys.modules if "alembic" in m or "psycopg" in m}
             | {m for m in sys.modules if m.startswith("sqlalchemy.dialects.postgresql")}))
"""


def test_sqlite_stores_import_neither_alembic_nor_postgresql() -> None:
    """Start-up time: Alembic (~0.4 s) only loads to migrate an old database."""
    done = subprocess.run([sys.executable, "-c", LOOK], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_validate_imports_nothing_of_postgresql(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: s\nprompts: [{id: p, template: '{{ q }}'}]\n"
        "providers: [{id: o, type: outputs, column: a}]\n"
        "cases: [{vars: {q: x, a: y}, expected: y, assert: [{type: exact}]}]\n"
    )
    code = (
        "import sys; from harness.cli import main; assert main(['validate', sys.argv[1]]) == 0; "
        "print([m for m in sys.modules if 'psycopg' in m or 'dialects.postgresql' in m])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(suite)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
