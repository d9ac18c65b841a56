"""Storage stage: opening a store (engine, SQLite pragmas, schema migrations) and its sessions.

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

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session

from shopwatch.errors import StoreError
from storage import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.migrate import Upgrade, stored_revision, upgrade
from storage.migrations import HEAD

# the PostgreSQL advisory lock that upgrades of one database's schema take in turn
_SCHEMA_LOCK = 0x73686F70  # "shop"


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
        """Create the schema of a new store, or bring an existing one to the newest revision.

        See :meth:`upgrade`; this is what opening a store does.
        """
        self.upgrade()

    def upgrade(self, target: str = "head") -> Upgrade:
        """Run the schema migrations up to ``target`` (the newest); say from which to which.

        Opening a store that is up to date only reads its revision (no Alembic at
        all). Otherwise the whole upgrade is one transaction, so no process ever
        sees half a schema: on SQLite one ``BEGIN IMMEDIATE`` transaction, which
        waits its turn on the busy timeout when other processes are creating or
        upgrading the same store at that moment (the first one does the work, the
        others then find nothing left to do); on PostgreSQL one transaction holding
        an advisory lock for the same purpose. A store made before migrations is
        recognised by its tables, completed to the baseline and stamped with it.
        """
        try:
            if target in ("head", HEAD) and self._quick_revision() == HEAD:
                return Upgrade(HEAD, HEAD)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store {self.url}: {exc}") from exc
        return self._migrate(target)

    def _quick_revision(self) -> str | None:
        """The revision, or ``None`` also when another process held SQLite's lock just then."""
        try:
            with self.engine.connect() as conn:
                return stored_revision(conn)
        except OperationalError as exc:
            if self.is_sqlite and is_busy(exc):
                return None  # the upgrade waits for the lock, then looks again
            raise

    def _migrate(self, target: str) -> Upgrade:
        from alembic.util import CommandError

        try:
            with self._writer.connect() as conn, conn.begin():
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
                return upgrade(conn, target)
        except (SQLAlchemyError, CommandError) as exc:
            raise StoreError(f"cannot upgrade the schema of {self.url}: {exc}") from exc

    def revision(self) -> str | None:
        """The store's schema revision: ``None`` when it has none (see :meth:`has_schema`)."""
        try:
            with self.engine.connect() as conn:
                return stored_revision(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store {self.url}: {exc}") from exc

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


def insert_missing(session: Session, table: Any, values: dict[str, Any], key: str) -> Any:
    """Insert one row unless a row with its ``key`` exists: the new row's id (or key), else None.

    ``INSERT … ON CONFLICT DO NOTHING`` in the dialect's form, so two processes
    adding the same key at once never fail on the unique constraint: on
    PostgreSQL's concurrent transactions the second one waits and then inserts
    nothing (SQLite's writers take their turns anyway).
    """
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.connection().dialect.name == "postgresql" else sqlite
    returned = table.c.id if "id" in table.c else table.c[key]
    statement = dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=[key])
    found: Any = session.execute(statement.returning(returned)).scalar_one_or_none()
    return found


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (``Result`` types do not declare it)."""
    return int(getattr(result, "rowcount", 0) or 0)


def open_store(url: str, busy_timeout: float = 30.0, *, create: bool = True) -> Store:
    """Open the store at ``url``, its schema brought to the newest revision.

    A new store's schema is created when ``create`` (the default); otherwise a
    store without one is an error.
    """
    store = Store(url, busy_timeout)
    try:
        if not create and not store.has_schema():
            raise StoreError(f"no shopwatch store at {url} (run `shopwatch init` or a crawl first)")
        store.init_schema()
    except BaseException:
        store.close()
        raise
    return store
