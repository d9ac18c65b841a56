"""Storage stage: the scheduler's single-instance lock and the record of job runs.

The lock is a row in ``locks``: taking it is an insert, or an update of a row
whose holder stopped renewing it (``stale_before``) or whose process is known
dead. Write sessions start with ``BEGIN IMMEDIATE`` on SQLite, so two
processes racing for the lock are serialised by the database.

On PostgreSQL the lock that counts is a session-level advisory lock, held on
a connection of its own: the server frees it the moment the holder's session
ends, however the process died. The row then only names the holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, text, update
from sqlmodel import Session, col, select

from storage.articles import as_utc
from storage.engine import insert_missing, rowcount
from storage.tables import JobRun, ServiceLock


@dataclass(frozen=True)
class Holder:
    owner: str
    host: str
    pid: int
    acquired_at: datetime
    renewed_at: datetime


def _holder(row: ServiceLock) -> Holder:
    acquired, renewed = as_utc(row.acquired_at), as_utc(row.renewed_at)
    assert acquired is not None and renewed is not None
    return Holder(row.owner, row.host, row.pid, acquired, renewed)


def try_lock(
    session: Session,
    name: str,
    me: Holder,
    *,
    stale_before: datetime,
    dead: bool = False,
) -> Holder | None:
    """Take lock ``name`` for ``me``; return None on success, else the current holder.

    ``dead`` says the caller has checked that the holder's process no longer
    exists (same host), so the lock can be taken before it goes stale.
    """
    row = session.get(ServiceLock, name, with_for_update=True, populate_existing=True)
    if row is None:
        values = {
            "name": name,
            "owner": me.owner,
            "host": me.host,
            "pid": me.pid,
            "acquired_at": as_utc(me.acquired_at),
            "renewed_at": as_utc(me.renewed_at),
        }
        table = ServiceLock.__table__  # type: ignore[attr-defined]
        if insert_missing(session, table, values, "name") is not None:
            return None
        # another process took it since the look-up: its row, locked until this one ends
        row = session.get(ServiceLock, name, with_for_update=True, populate_existing=True)
        assert row is not None
    held = _holder(row)
    if held.owner != me.owner and held.renewed_at >= as_utc(stale_before) and not dead:
        return held
    row.owner, row.host, row.pid = me.owner, me.host, me.pid
    row.acquired_at, row.renewed_at = me.acquired_at, me.renewed_at
    session.add(row)
    session.flush()
    return None


def try_advisory_lock(conn: Connection, key: int) -> bool:
    """Take PostgreSQL's session advisory lock ``key`` on ``conn`` if it is free."""
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())


def set_keepalives(conn: Connection, idle: int, interval: int, count: int) -> None:
    """The server's TCP keepalives for this session: it notices a vanished client in time."""
    for name, value in (("idle", idle), ("interval", interval), ("count", count)):
        conn.execute(text(f"SET tcp_keepalives_{name} = {int(value)}"))


def advisory_unlock(conn: Connection, key: int) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def holds_advisory_lock(conn: Connection, key: int) -> bool:
    """Whether this connection's session still holds advisory lock ``key``."""
    row = conn.execute(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = :key"
        ),
        {"key": key},
    ).scalar()
    return bool(row)


def lock_holder(session: Session, name: str) -> Holder | None:
    row = session.get(ServiceLock, name)
    return _holder(row) if row is not None else None


def renew_lock(session: Session, name: str, owner: str, now: datetime) -> bool:
    """Extend the lease; False when ``owner`` no longer holds the lock."""
    result = session.execute(
        update(ServiceLock)
        .where(col(ServiceLock.name) == name, col(ServiceLock.owner) == owner)
        .values(renewed_at=as_utc(now))
    )
    return rowcount(result) > 0


def release_lock(session: Session, name: str, owner: str) -> None:
    session.execute(
        delete(ServiceLock).where(col(ServiceLock.name) == name, col(ServiceLock.owner) == owner)
    )


def start_job(session: Session, job: str, started: datetime, scheduled: datetime | None) -> int:
    row = JobRun(job=job, started_at=as_utc(started), scheduled_for=as_utc(scheduled))
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def finish_job(
    session: Session, run_id: int, finished: datetime, status: str, detail: str | None
) -> None:
    session.execute(
        update(JobRun)
        .where(col(JobRun.id) == run_id)
        .values(finished_at=as_utc(finished), status=status, detail=detail)
    )


def abandon_running_jobs(session: Session, finished: datetime) -> int:
    """Mark runs a dead scheduler left ``running`` as ``abandoned``."""
    result = session.execute(
        update(JobRun)
        .where(col(JobRun.status) == "running")
        .values(status="abandoned", finished_at=as_utc(finished))
    )
    return rowcount(result)


def last_runs(session: Session) -> dict[str, JobRun]:
    """The latest run of every job."""
    newest = select(func.max(JobRun.id)).group_by(JobRun.job)
    rows = session.exec(select(JobRun).where(col(JobRun.id).in_(newest))).all()
    return {row.job: row for row in rows}


def job_runs(session: Session, job: str | None = None, limit: int = 100) -> list[JobRun]:
    statement = select(JobRun).order_by(col(JobRun.started_at).desc()).limit(limit)
    if job:
        statement = statement.where(JobRun.job == job)
    return list(session.exec(statement).all())
