"""The database under the results store and the response cache: a SQLite file by default,
or any PostgreSQL database by URL (one store a team or n CI shards share), through
SQLAlchemy Core.

Each database's schema is versioned by the Alembic migrations shipped in
``harness/results/migrations`` (a branch per database: ``results`` and ``cache``, so both
may share one PostgreSQL database) and brought to its branch's head when opened. A store or
cache made before migrations (no ``alembic_version`` table) is recognised by its tables,
stamped at the revision it matches and upgraded in place. Opening a database that is
already current, or new, imports no Alembic (~0.4 s); a SQLite one imports nothing of
PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from harness.errors import StoreError
from harness.jsontext import decode_text

if TYPE_CHECKING:
    from alembic.config import Config

#: The Alembic script directory (``env.py`` and ``versions/``), shipped with the package.
MIGRATIONS = Path(__file__).with_name("migrations")

#: How long a SQLite writer waits for another one's transaction (shards, `harness view`).
BUSY_TIMEOUT_MS = 30_000
#: The size SQLite truncates its write-ahead log back to after a checkpoint.
WAL_LIMIT_BYTES = 64 * 1024 * 1024

#: ``pg_advisory_xact_lock`` keys of :meth:`Database.exclusive`: one migration at a time
#: per database, and one claim of a run at a time (``ResultStore.lock_run``).
MIGRATION_LOCK = 0x68617200
RUN_LOCK = 0x68617201

#: The type of ids, keys and times: compared byte by byte on PostgreSQL too (its default
#: collation is the locale's), so runs and case ids sort as in SQLite and in Python.
KEY = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

#: Alembic's version table, as Alembic makes it (``DefaultImpl.version_table_impl``).
_VERSIONS = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)

_SUPPORTED = ("sqlite", "postgresql")
_JSON_PATH = re.compile(r"\$((?:\.\w+|\[\d+\])*)")
_JSON_STEP = re.compile(r"\.(\w+)|\[(\d+)\]")


def database_url(target: str | os.PathLike[str]) -> URL:
    """``target`` as a SQLAlchemy URL: a ``scheme://`` string is a database URL (plain
    ``postgresql://`` gets the psycopg driver, the one ``harness[postgres]`` installs);
    anything else is the path of a SQLite file (``":memory:"``: an in-memory database)."""
    text = os.fspath(target)
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        url = sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError(
            f"{text!r} is not a database URL: expected e.g. "
            "postgresql+psycopg://user@host/dbname or sqlite:///path/results.db"
        ) from None
    if url.drivername in ("postgresql", "postgres"):  # postgres://: Heroku's and libpq's
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise StoreError(
            f"{url.render_as_string()}: harness talks to PostgreSQL through psycopg 3; "
            f"use postgresql+psycopg://... (or postgresql://...), not {url.drivername}://"
        )
    if url.get_backend_name() not in _SUPPORTED:
        raise StoreError(
            f"the {url.get_backend_name()} database of {url.render_as_string()} is not "
            "supported: use a SQLite file or postgresql+psycopg://user@host/dbname"
        )
    return url


class Database:
    """An engine on one database whose schema is at the head of Alembic branch ``branch``.

    ``tables`` are the branch's tables as they are at ``head`` (a new database is made from
    them); ``legacy`` says which revision a database made before migrations matches (it is
    given a connection; None: nothing of this branch is there yet); ``what`` names the
    database in errors ("results store"). ``create=False``: a SQLite file that is not there
    is an error, not a new empty database (a typo in ``--db`` of a command that only reads).
    The branch's revision ids start with ``branch_``.

    Short transactions (:meth:`begin`) share one connection of the database's own, one
    thread at a time: a pool checkout per call cost more than a cached answer's insert.
    Long reads (:meth:`connect`) take pooled connections, so one instance serves several
    threads (except an in-memory SQLite one: a database per thread).
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        tables: sa.MetaData,
        branch: str,
        head: str,
        legacy: Callable[[Connection], str | None],
        what: str,
        create: bool = True,
    ) -> None:
        self.url = database_url(target)
        self.dialect = self.url.get_backend_name()
        database = self.url.database if self.dialect == "sqlite" else None
        #: The SQLite file (what `harness view` and the sqlite3 tool open); None otherwise.
        self.path = Path(database) if database and database != ":memory:" else None
        self.in_memory = self.dialect == "sqlite" and self.path is None
        #: How messages name the database: its file, or its URL without the password.
        self.location = str(self.path) if self.path else self.url.render_as_string()
        self._what = what
        self._closed = False
        self._lock = threading.RLock()
        self._own: list[Connection] = []  # the connection of begin(), once opened
        if not create and self.path is not None and not self.path.is_file():
            raise StoreError(
                f"no {what} at {self.path}: `harness run SUITE` makes one (or check --db, "
                "$HARNESS_DB_URL and $HARNESS_HOME)"
            )
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = _engine(self.url)
        except ModuleNotFoundError as e:
            raise StoreError(
                f"the {what} {self.location} needs the {e.name} driver: "
                "pip install 'harness[postgres]'"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot open the {what} {self.location}: {e}") from None
        # Connections are closed with the last reference (psycopg warns otherwise).
        weakref.finalize(self, _close, self._own, self.engine)
        try:
            self._upgrade(tables, branch, head, legacy)
        except sa.exc.SQLAlchemyError as e:
            _close(self._own, self.engine)
            raise StoreError(f"cannot open the {what} {self.location}: {_reason(e)}") from None
        except StoreError as e:
            _close(self._own, self.engine)
            raise StoreError(f"cannot open the {what} {self.location}: {e}") from None

    def close(self) -> None:
        """Close the connections; using the database afterwards is an error."""
        with self._lock:
            self._closed = True
            _close(self._own, self.engine)

    def connect(self) -> Connection:
        """A pooled connection for a long read (``with db.connect() as c:``), which may
        overlap other reads and writes."""
        self._check_open()
        return self.engine.connect()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A short transaction, reads or writes, committed at the end of the ``with`` block
        (rolled back on error)."""
        with self._lock:
            conn = self._connection()
            with conn.begin():
                yield conn

    def prepare(self, statement: Any) -> Callable[[Sequence[dict[str, Any]]], None]:
        """``statement`` compiled once, as a write of some rows that commits at once and is
        made every few cases (cached answers): run on the driver's own connection (of
        :meth:`begin`), as SQLAlchemy's per-call work (its compiled cache, parameters,
        results, transaction) cost as much as the insert itself."""
        compiled = statement.compile(dialect=self.engine.dialect)
        sql, order = str(compiled), compiled.positiontup  # order: a positional driver's

        def run(rows: Sequence[dict[str, Any]]) -> None:
            params = [tuple(r[name] for name in order) for r in rows] if order else rows
            with self._lock:
                driver = self._connection().connection.driver_connection
                cursor = driver.cursor()
                try:
                    cursor.executemany(sql, params)
                    driver.commit()
                except BaseException:
                    driver.rollback()
                    raise
                finally:
                    cursor.close()

        return run

    def _connection(self) -> Connection:
        """The database's own connection (opened on first use), for the caller holding
        the lock, between transactions."""
        self._check_open()
        if not self._own:
            self._own.append(self.engine.connect())
        return self._own[0]

    @contextmanager
    def exclusive(self, key: int) -> Iterator[Connection]:
        """A transaction that one writer at a time holds, from its first statement: SQLite's
        write lock taken at BEGIN (a read first, then a write, could not wait for another
        writer: BUSY at once); on PostgreSQL the advisory lock ``key``, freed at commit."""
        with self.begin() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield conn

    def _check_open(self) -> None:
        if self._closed:  # a new pool would open silently: a late write must fail loudly
            raise StoreError(f"the {self._what} {self.location} was closed")

    def upsert(self, table: sa.Table, *update: str) -> Any:
        """``INSERT ... ON CONFLICT (primary key) DO UPDATE SET`` the ``update`` columns:
        a second write of the same key replaces the first (SQLite's old INSERT OR REPLACE),
        in this dialect's syntax."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(table)
        return statement.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={name: statement.excluded[name] for name in update},
        )

    def json_fields(self, column: str, paths: Sequence[str]) -> JsonFields:
        """How to read the ``paths`` of the JSON text in ``column`` (see :class:`JsonFields`)."""
        return JsonFields(self.dialect, column, paths)

    def _upgrade(
        self,
        tables: sa.MetaData,
        branch: str,
        head: str,
        legacy: Callable[[Connection], str | None],
    ) -> None:
        """Bring the schema to ``head``: one look at the version table when it is there
        already; otherwise, under :data:`MIGRATION_LOCK` (two processes may open a new
        database at once), make a new database at ``head``, or stamp what an old one
        holds and run the migrations from there."""
        with self.begin() as conn:
            if head in _revisions(conn):
                return
        with self.exclusive(MIGRATION_LOCK) as conn:
            found = _revisions(conn)
            if head in found:  # another process brought it up meanwhile
                return
            ours = any(r.startswith(f"{branch}_") for r in found)
            stamp = None if ours else legacy(conn)
            if ours or stamp is not None:
                _migrate(conn, branch, found, stamp)
                return
            # New: made at head from the tables' definitions and stamped (Alembic's recipe
            # for a new database), importing no Alembic (~0.4 s) on a first `harness run`.
            tables.create_all(conn)
            _VERSIONS.create(conn, checkfirst=True)
            conn.execute(_VERSIONS.insert(), {"version_num": head})


def _migrate(conn: Connection, branch: str, found: set[str], stamp: str | None) -> None:
    """Run ``branch``'s migrations up to its head, from ``stamp`` when the database was
    made before migrations (recorded first), else from the revision it is at."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(conn)
    known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
    if found - known:
        raise StoreError(
            f"its schema is at revision {', '.join(sorted(found - known))}, which this "
            "harness does not know (a newer harness wrote it): upgrade harness"
        )
    if stamp is not None:
        command.stamp(config, stamp)
    command.upgrade(config, f"{branch}@head")


def alembic_config(conn: Connection) -> Config:
    """Alembic's configuration for the shipped migrations, run on ``conn`` (its transaction
    is the caller's: ``migrations/env.py`` neither begins nor commits one)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


class JsonFields:
    """Chosen JSON paths (``$.output``, ``$.scores[0].value``) of the JSON text in a column,
    extracted by the database: :attr:`sql` selects two columns, which :meth:`values` turns
    into the paths' values (None where missing).

    A record may hold ``\\u0000`` or lone-surrogate escapes (a model's odd answer). PostgreSQL
    reads the text as ``json``, which keeps it as written (``jsonb`` refuses such text), but
    its path operators refuse a document holding either; SQLite's ``json_array`` cuts a text
    at its NUL. Such a record comes whole, in the second column, and is read here.
    """

    #: The escapes that send a record to Python: NUL, and a surrogate (PostgreSQL only).
    NUL = "\\u0000"
    SURROGATE = "\\\\u[dD][89abAB]"

    def __init__(self, dialect: str, column: str, paths: Sequence[str]) -> None:
        self._steps = [json_path_steps(p) for p in paths]
        names = [f"path_{i}" for i in range(len(paths))]
        if dialect == "postgresql":
            parts = ", ".join(f"CAST({column} AS json) #> CAST(:{n} AS text[])" for n in names)
            extract = f"CAST(json_build_array({parts}) AS text)"
            whole = f"strpos({column}, :nul) > 0 OR {column} ~ :surrogate"
            self.params: dict[str, Any] = {"surrogate": self.SURROGATE}
            for name, steps in zip(names, self._steps, strict=True):
                self.params[name] = [str(step) for step in steps]
        else:
            # json_extract gives one path's value as SQL, several as a JSON array
            extract = f"json_extract({column}, {', '.join(f':{n}' for n in names)})"
            extract = extract if len(paths) > 1 else f"json_array({extract})"
            whole = f"instr({column}, :nul) > 0"
            self.params = dict(zip(names, paths, strict=True))
        self.params["nul"] = self.NUL
        self.sql = (
            f"CASE WHEN {whole} THEN NULL ELSE {extract} END, CASE WHEN {whole} THEN {column} END"
        )

    def values(self, extracted: str | None, whole: str | None) -> list[Any]:
        """The paths' values of one row of :attr:`sql`."""
        if whole is None:
            return json.loads(extracted)  # type: ignore[arg-type]
        document = json.loads(whole)
        return [_walk(document, steps) for steps in self._steps]


def json_path_steps(path: str) -> list[str | int]:
    """The keys and indexes of a JSON path, ``"$.scores[0].value"`` -> ``["scores", 0,
    "value"]``; ValueError for anything but ``$`` and ``.name`` / ``[index]`` steps."""
    found = _JSON_PATH.fullmatch(path)
    if found is None:
        raise ValueError(f"JSON path {path!r}: expected $ then .name or [index] steps")
    return [name or int(index) for name, index in _JSON_STEP.findall(found[1])]


def _walk(value: Any, steps: list[str | int]) -> Any:
    """What ``json_extract`` gives of a parsed document: None where a step finds nothing."""
    for step in steps:
        if isinstance(step, int):
            found = isinstance(value, list) and step < len(value)
        else:
            found = isinstance(value, dict) and step in value
        if not found:
            return None
        value = value[step]
    return value


def _reason(error: sa.exc.SQLAlchemyError) -> str:
    """The driver's own message of a database error, without SQLAlchemy's SQL and links."""
    original = getattr(error, "orig", None)
    return str(original if original is not None else error).strip()


def _revisions(conn: Connection) -> set[str]:
    """The revisions the database's version table holds (one per branch there)."""
    if not sa.inspect(conn).has_table(_VERSIONS.name):
        return set()
    return set(conn.scalars(sa.select(_VERSIONS.c.version_num)))


def _close(own: list[Connection], engine: sa.Engine) -> None:
    while own:
        own.pop().close()
    engine.dispose()


def _engine(url: URL) -> sa.Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url)
    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, record: object) -> None:
    """WAL: readers and the writer never wait for each other; NORMAL: a commit waits for
    no fsync (a power cut may lose the last commits, a killed process none); a busy writer
    is waited for. ``json_extract`` of an escaped lone surrogate
    gives invalid UTF-8, which :func:`decode_text` turns back into the character."""
    dbapi_connection.text_factory = decode_text
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # a long-lived connection (``harness view``) would otherwise keep a large write-ahead
    # log at its largest after each checkpoint
    dbapi_connection.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
