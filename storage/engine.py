"""Storage stage: opening a store (engine, SQLite pragmas, schema) and its sessions.

SQLite runs in WAL mode with a busy timeout, so the crawler, the CLI and the
scheduler can use one file at once; write sessions start with
``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing
with "database is locked" when one upgrades a read lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.schema import CreateIndex
from sqlmodel import Session, SQLModel

from shopwatch.errors import StoreError
from storage import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.fts import create_fts
from storage.views import create_views


def _install_sqlite_pragmas(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    """An open store: the engine plus read and write sessions."""

    def __init__(self, url: str, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine
        self._writer: Engine
        if self.is_sqlite:
            _ensure_sqlite_folder(url)
            self.engine = create_engine(
                url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
            )
            _install_sqlite_pragmas(self.engine, busy_timeout)
            self._writer = self.engine.execution_options(sqlite_immediate=True)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self._writer = self.engine

    def init_schema(self) -> None:
        """Create every table, index, the FTS index and view that does not exist yet.

        Idempotent, and one transaction: no process ever sees half a schema. When
        everything exists this only reads. When another process is creating the
        schema at the same moment (two commands started on a new store), SQLite
        refuses the upgrade of a read transaction at once; the work is then done
        again under ``BEGIN IMMEDIATE``, which waits its turn on the busy timeout.
        """
        try:
            try:
                _create_schema(self.engine, sqlite=self.is_sqlite)
            except OperationalError as exc:
                if not (self.is_sqlite and is_busy(exc)):
                    raise
                _create_schema(self._writer, sqlite=True)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot create the schema in {self.url}: {exc}") from exc

    def has_schema(self) -> bool:
        try:
            return inspect(self.engine).has_table("articles")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store {self.url}: {exc}") from exc

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _translated(self.url), Session(self.engine) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on error."""
        with _translated(self.url), Session(self._writer) as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def _create_schema(engine: Engine, *, sqlite: bool) -> None:
    """Tables, indexes (also those added since the store was made), FTS and views, at once."""
    with engine.begin() as conn:
        SQLModel.metadata.create_all(conn)
        for table in SQLModel.metadata.sorted_tables:
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
        if sqlite:
            create_fts(conn)
        create_views(conn)


def is_busy(exc: OperationalError) -> bool:
    """Whether SQLite gave up because another connection held the lock ("database is locked")."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(exc.orig)


@contextmanager
def _translated(url: str) -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise StoreError(f"store {url}: {exc.orig}") from exc


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (``Result`` types do not declare it)."""
    return int(getattr(result, "rowcount", 0) or 0)


def open_store(url: str, busy_timeout: float = 30.0, *, create: bool = True) -> Store:
    """Open the store at ``url``; create its schema when ``create`` (the default)."""
    store = Store(url, busy_timeout)
    if create:
        store.init_schema()
    elif not store.has_schema():
        raise StoreError(f"no shopwatch store at {url} (run `shopwatch init` or a crawl first)")
    return store
