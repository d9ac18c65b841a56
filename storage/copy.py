"""Storage stage: copying one store into another (``shopwatch db copy``), resumably.

The steps, in order:

1. :func:`same_store` refuses a target that is the source under another spelling of
   its URL (or another link to its file), before anything is opened;
   :func:`probe_same_store` then catches the aliases a URL cannot show (another host
   name for one server).
2. Both stores are opened, so both are at the newest schema revision.
3. :func:`check_target` accepts an empty target, or one that holds a copy of this
   same source (its progress rows in ``copy_progress`` name the source's
   :func:`fingerprint`, and no table holds ids beyond the source's); anything else is
   another store's data and is refused.
4. :func:`copy_table`, for every table of :mod:`storage.tables` but the service lock,
   in foreign-key order: batches in primary-key order, each batch and the progress it
   makes one transaction on the target, with ``ON CONFLICT (primary key)``. An
   interrupted copy resumes after the last committed batch; a finished one, run again,
   looks only past the last key of the tables whose rows never change
   (:data:`APPEND_ONLY`) and walks the others again, updating only rows that differ.
5. :func:`move_sequence` sets each PostgreSQL serial past the largest copied id.

Only the columns of the SQLModel tables are copied, never generated ones: a target
computes those itself. The ``locks`` table is left out: its row belongs to a
scheduler running on the source, and copied it would hold the target for a process
that is not running there.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    cast,
    func,
    inspect,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import SQLModel

from shopwatch.errors import StoreError
from storage import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.engine import Store

EXCLUDED = frozenset({"locks"})
# tables whose rows are written once and never changed, with ids that only grow: a
# finished copy, run again, reads only the rows past the last one it copied
APPEND_ONLY = frozenset({"crawl_errors", "figures", "events", "people", "digests", "alerts"})
PROGRESS_TABLE = "copy_progress"
DEFAULT_BATCH = 1000
# bound parameters per statement: SQLite allows 32,766, PostgreSQL 65,535
_MAX_PARAMS = 30_000

_progress_meta = MetaData()
progress = Table(
    PROGRESS_TABLE,
    _progress_meta,
    Column("table_name", String, primary_key=True),
    Column("source", String, nullable=False),  # the source's fingerprint
    Column("after", BigInteger, nullable=True),  # first key column of the last batch committed
    Column("done", Boolean, nullable=False),  # the table's last pass finished
)


@dataclass
class TableCopy:
    """What the copy did to one table: rows in the source, read and written now, in the target."""

    name: str
    source_rows: int
    read: int = 0
    written: int = 0
    target_rows: int = 0


@dataclass
class CopyReport:
    tables: list[TableCopy] = field(default_factory=list)

    @property
    def written(self) -> int:
        return sum(t.written for t in self.tables)


# called after each batch with the table's running counts
OnProgress = Callable[[TableCopy], None]


def copied_tables() -> list[Table]:
    """The tables a copy moves, parents before children (foreign-key order)."""
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in EXCLUDED]


def copied_columns(table: Table) -> list[Column[Any]]:
    """The table's columns as the models declare them, without generated ones."""
    return [c for c in table.columns if c.computed is None]


def shown(url: str) -> str:
    """The URL without its password, if it has one."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _identity(url: str) -> tuple[Any, ...]:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or path.startswith("file:"):
            return ("sqlite", uuid.uuid4().hex)  # never the same as anything
        if os.path.exists(path):  # one file under any name (symlinks, hard links)
            found = os.stat(path)
            return ("sqlite", found.st_dev, found.st_ino)
        return ("sqlite", os.path.realpath(path))
    host = (parsed.host or "localhost").lower()
    if host in ("localhost", "127.0.0.1", "::1"):
        host = "loopback"
    return (backend, host, parsed.port, parsed.database)


def same_store(source_url: str, target_url: str) -> bool:
    """Whether two URLs name one store (one SQLite file, or one database of one server)."""
    try:
        return _identity(source_url) == _identity(target_url)
    except ArgumentError as exc:
        raise StoreError(f"not a store URL: {shown(target_url)} ({exc})") from exc


def probe_same_store(source: Store, target: Store) -> bool:
    """Whether a row committed in the target shows in the source (one store, two names)."""
    token = f"probe:{uuid.uuid4().hex}"
    with target.write() as session:
        conn = session.connection()
        existed = inspect(conn).has_table(PROGRESS_TABLE)
        _progress_meta.create_all(conn)
        conn.execute(progress.insert().values(table_name=token, source="", done=False))
    try:
        with source.engine.connect() as conn:
            if not inspect(conn).has_table(PROGRESS_TABLE):
                return False
            found = conn.execute(select(progress.c.source).where(progress.c.table_name == token))
            return found.first() is not None
    finally:
        with target.write() as session:
            conn = session.connection()
            conn.execute(progress.delete().where(progress.c.table_name == token))
            if not existed:
                conn.execute(text(f"DROP TABLE {PROGRESS_TABLE}"))


def fingerprint(conn: Connection) -> str:
    """What tells this source from another: its first crawl run and its first article."""
    runs, articles = (SQLModel.metadata.tables[name] for name in ("crawl_runs", "articles"))
    first_run = conn.execute(
        select(runs.c.id, runs.c.started_at).order_by(runs.c.id).limit(1)
    ).first()
    first_article = conn.execute(
        select(articles.c.id, articles.c.canonical_url, articles.c.first_seen_at)
        .order_by(articles.c.id)
        .limit(1)
    ).first()
    seen = repr((tuple(first_run or ()), tuple(first_article or ())))
    return hashlib.sha256(seen.encode()).hexdigest()[:32]


def row_count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def max_id(conn: Connection, table: Table) -> int | None:
    if "id" not in table.c:
        return None
    found = conn.execute(select(func.max(table.c.id))).scalar_one()
    return None if found is None else int(found)


def read_progress(conn: Connection) -> dict[str, Any]:
    """The target's progress rows by table (none when it never received a copy)."""
    if not inspect(conn).has_table(PROGRESS_TABLE):
        return {}
    return {row.table_name: row for row in conn.execute(select(progress))}


def check_target(source: Connection, target: Connection, source_print: str) -> bool:
    """Refuse a target that holds anything but an earlier copy of this source; say if empty."""
    held = {t.name: row_count(target, t) for t in copied_tables()}
    if not any(held.values()):
        return True
    sources = {row.source for row in read_progress(target).values()}
    if not sources:
        raise StoreError(
            "the target store already holds data that is not a copy of this store "
            f"({_some(held)}); copy into an empty store"
        )
    if sources != {source_print}:
        raise StoreError(
            "the target store holds a copy of another store, not of this one "
            f"({_some(held)}); copy into an empty store"
        )
    for table in copied_tables():
        theirs, ours = max_id(target, table), max_id(source, table)
        if theirs is not None and (ours is None or theirs > ours):
            raise StoreError(
                f"the target store has {table.name} rows this store does not have "
                f"(ids up to {theirs}, here up to {ours or 0}): it was written to since "
                "the last copy; copy into an empty store"
            )
    return False


def _some(held: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in held.items() if n)


def start_copy(target: Connection, source_print: str, *, empty: bool) -> dict[str, Any]:
    """Claim the target for this source (or go on with its copy): the progress rows by table."""
    _progress_meta.create_all(target)
    known = read_progress(target)
    if empty and known:
        # progress rows without the rows they speak of (emptied since): start afresh
        target.execute(progress.delete())
        known = {}
    for table in copied_tables():
        if table.name not in known:
            target.execute(
                progress.insert().values(
                    table_name=table.name, source=source_print, after=None, done=False
                )
            )
    return read_progress(target)


def _resume_from(table: Table, state: Any) -> Any:
    """Where this run starts reading the table: ``None`` for its first row."""
    if not state.done or table.name in APPEND_ONLY:
        return state.after
    return None  # a table whose rows can change: walk it again


def read_batch(
    conn: Connection, table: Table, after: Any, last: tuple[Any, ...] | None, size: int
) -> list[dict[str, Any]]:
    """The next ``size`` rows in primary-key order: after the key ``last`` of this run's
    previous batch, else from the first key column ``after`` on (``None``: the start)."""
    keys = list(table.primary_key.columns)
    statement = select(*copied_columns(table)).order_by(*keys).limit(size)
    if last is not None:
        statement = statement.where(tuple_(*keys) > tuple_(*last))
    elif after is not None:
        # a composite key's last batch may have ended inside one value of its first column
        first = keys[0]
        statement = statement.where(first >= after if len(keys) > 1 else first > after)
    return [dict(row._mapping) for row in conn.execute(statement)]


def _insert_for(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    raise StoreError(f"copying into {conn.dialect.name} is not supported (SQLite or PostgreSQL)")


def _comparable(column: Any) -> Any:
    # PostgreSQL's json has no equality operator: compare its text
    return cast(column, Text) if isinstance(column.type, JSON) else column


def write_batch(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows, keeping their keys; a row already there is left alone if it cannot
    change (:data:`APPEND_ONLY`), else updated when it differs. Rows written."""
    insert = _insert_for(conn)
    keys = [c.name for c in table.primary_key.columns]
    others = [c.name for c in copied_columns(table) if c.name not in keys]
    per_statement = max(1, _MAX_PARAMS // max(1, len(others) + len(keys)))
    written = 0
    for start in range(0, len(rows), per_statement):
        statement = insert(table).values(list(rows[start : start + per_statement]))
        if table.name in APPEND_ONLY or not others:
            statement = statement.on_conflict_do_nothing(index_elements=keys)
        else:
            statement = statement.on_conflict_do_update(
                index_elements=keys,
                set_={name: statement.excluded[name] for name in others},
                where=or_(
                    *(
                        _comparable(table.c[name]).is_distinct_from(
                            _comparable(statement.excluded[name])
                        )
                        for name in others
                    )
                ),
            )
        result = conn.execute(statement.execution_options(preserve_rowcount=True))
        written += max(0, int(getattr(result, "rowcount", 0) or 0))
    return written


def save_progress(conn: Connection, table: Table, after: Any, *, done: bool) -> None:
    conn.execute(
        progress.update().where(progress.c.table_name == table.name).values(after=after, done=done)
    )


def move_sequence(conn: Connection, table: Table) -> None:
    """Move a PostgreSQL serial past the largest id, so new rows get new ids."""
    if conn.dialect.name != "postgresql" or "id" not in table.c:
        return
    conn.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table.name}"
        )
    )


def copy_table(
    source: Connection,
    target: Store,
    table: Table,
    state: Any,
    batch: int,
    tally: TableCopy,
    on_progress: OnProgress | None = None,
) -> None:
    """Copy one table in batches, each batch and its progress one transaction on the target."""
    after = _resume_from(table, state)
    keys = [c.name for c in table.primary_key.columns]
    last: tuple[Any, ...] | None = None
    while rows := read_batch(source, table, after, last, batch):
        with target.write() as session:
            conn = session.connection()
            tally.written += write_batch(conn, table, rows)
            save_progress(conn, table, rows[-1][keys[0]], done=False)
        tally.read += len(rows)
        last = tuple(rows[-1][k] for k in keys)
        after = rows[-1][keys[0]]
        if on_progress is not None:
            on_progress(tally)
    with target.write() as session:
        conn = session.connection()
        save_progress(conn, table, after, done=True)
        move_sequence(conn, table)
        tally.target_rows = row_count(conn, table)


def copy_store(
    source: Store,
    target: Store,
    *,
    batch: int = DEFAULT_BATCH,
    on_start: Callable[[list[TableCopy]], None] | None = None,
    on_progress: OnProgress | None = None,
) -> CopyReport:
    """Copy every table of ``source`` into ``target`` (both open, at the same revision)."""
    if batch < 1:
        raise StoreError(f"the batch size must be at least 1 (got {batch})")
    if source.revision() != target.revision():
        raise StoreError(
            f"the stores are at different schema revisions ({source.revision()} and "
            f"{target.revision()}): run `shopwatch db upgrade` on both"
        )
    if probe_same_store(source, target):
        raise StoreError("the target store is the source store itself: nothing to copy")
    try:
        with _snapshot(source) as reading:
            source_print = fingerprint(reading)
            report = CopyReport([TableCopy(t.name, row_count(reading, t)) for t in copied_tables()])
            with target.write() as session:
                conn = session.connection()
                empty = check_target(reading, conn, source_print)
                states = start_copy(conn, source_print, empty=empty)
            if on_start is not None:
                on_start(report.tables)
            for table, tally in zip(copied_tables(), report.tables, strict=True):
                copy_table(reading, target, table, states[table.name], batch, tally, on_progress)
    except SQLAlchemyError as exc:
        raise StoreError(f"the copy failed: {getattr(exc, 'orig', None) or exc}") from exc
    return report


class _snapshot:
    """One read transaction on the source, so every table is read as of one moment."""

    def __init__(self, store: Store) -> None:
        engine = store.engine
        if not store.is_sqlite:
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        self.conn = engine.connect()

    def __enter__(self) -> Connection:
        self.conn.begin()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()
