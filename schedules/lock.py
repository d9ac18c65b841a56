"""Scheduling: one scheduler per store.

SQLite (one machine): the lock is a row renewed while the scheduler runs. A
second ``shopwatch run`` on the same store finds it held and refuses to
start, naming the holder. A holder that died is recognised either at once
(same host, its process is gone) or when it has not renewed the lock for
``[scheduler] lock_timeout``.

PostgreSQL (a fleet): the lock is a session advisory lock on a connection of
its own (:class:`AdvisoryLock`). A second ``shopwatch run`` waits as a
standby, trying the lock every second, and takes over as soon as the
server frees it: at once when the holder's process dies, since its session
ends with it; within about ``lock_timeout`` when its machine vanishes (TCP
keepalives on the lock's connection, on both ends, say so). The row still
names the holder, for the standby's log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from shopwatch.errors import LockedError
from storage.engine import Store
from storage.service import (
    Holder,
    advisory_unlock,
    holds_advisory_lock,
    lock_holder,
    release_lock,
    renew_lock,
    set_keepalives,
    try_advisory_lock,
    try_lock,
)

log = logging.getLogger("shopwatch.service")

SCHEDULER_LOCK = "scheduler"


def _process_gone(holder: Holder) -> bool:
    if holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class StoreLock:
    """The named lock in ``store``, taken by this process."""

    def __init__(self, store: Store, name: str, timeout: timedelta) -> None:
        self.store, self.name, self.timeout = store, name, timeout
        self.owner = uuid.uuid4().hex

    def acquire(self, stop: threading.Event | None = None, *, force: bool = False) -> bool:
        """Take the lock (True), or raise :class:`LockedError` naming its holder.

        ``force`` takes the row whoever holds it (the caller has proof the
        holder is gone: :class:`AdvisoryLock`). ``stop`` is not waited on: a
        row lock does not wait.
        """
        now = datetime.now(UTC)
        me = Holder(self.owner, socket.gethostname(), os.getpid(), now, now)
        with self.store.read() as session:
            current = lock_holder(session, self.name)
        dead = force or (current is not None and _process_gone(current))
        with self.store.write() as session:
            holder = try_lock(session, self.name, me, stale_before=now - self.timeout, dead=dead)
        if holder is not None:
            raise LockedError(
                f"another scheduler is running on this store ({_named(holder)}, last seen "
                f"{holder.renewed_at:%H:%M:%S} UTC); stop it first, or wait "
                f"{int(self.timeout.total_seconds())}s after it died"
            )
        return True

    def holder(self) -> Holder | None:
        with self.store.read() as session:
            return lock_holder(session, self.name)

    def renew(self) -> bool:
        with self.store.write() as session:
            return renew_lock(session, self.name, self.owner, datetime.now(UTC))

    def release(self) -> None:
        with self.store.write() as session:
            release_lock(session, self.name, self.owner)


def _named(holder: Holder) -> str:
    return f"pid {holder.pid} on {holder.host}, since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC"


def _reason(exc: SQLAlchemyError) -> str:
    """The first line of the driver's message."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def advisory_key(name: str) -> int:
    """A stable, positive 63-bit key for lock ``name`` (the same in every process)."""
    digest = hashlib.blake2b(f"shopwatch:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class AdvisoryLock:
    """The named lock on PostgreSQL: a session advisory lock; :meth:`acquire` waits for it."""

    POLL = 1.0  # seconds between tries while on standby

    def __init__(self, store: Store, name: str, timeout: timedelta) -> None:
        self.row = StoreLock(store, name, timeout)
        self.key = advisory_key(name)
        # a connection of its own, outside the pool, with keepalives that notice a vanished peer
        idle = max(int(timeout.total_seconds() / 4), 1)
        interval = max(int(timeout.total_seconds() / 8), 1)
        count = 4
        self._keepalive = (idle, interval, count)  # the server's side of the session too
        self._engine = create_engine(
            store.url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # the lock outlives transactions; none is left open
            connect_args={
                "keepalives": 1,
                "keepalives_idle": idle,
                "keepalives_interval": interval,
                "keepalives_count": count,
                "application_name": f"shopwatch {name} lock",
            },
        )
        self._conn: Connection | None = None

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for the lock until ``stop`` is set: True once held, False if stopped first.

        A standby whose connection fails (the database restarting) says so and
        connects again at the next try; without ``stop`` it does not wait at all.
        """
        conn: Connection | None = None
        waiting = False
        while True:
            try:
                if conn is None:
                    conn = self._engine.connect()
                    set_keepalives(conn, *self._keepalive)
                if try_advisory_lock(conn, self.key):
                    break
                if not waiting:
                    holder = self.row.holder()
                    named = _named(holder) if holder is not None else "holder unknown"
                    log.info("standby: another scheduler holds this store (%s); waiting", named)
                    waiting = True
            except SQLAlchemyError as exc:
                if stop is None:
                    raise
                log.warning("standby: the database did not answer (%s); trying again", _reason(exc))
                if conn is not None:
                    conn.invalidate()
                    conn = None
            if stop is None or stop.wait(self.POLL):
                if conn is not None:
                    conn.close()
                if stop is None:
                    raise LockedError("another scheduler holds this store")
                return False
        self._conn = conn
        self.row.acquire(force=True)  # whoever the row names, its session has ended
        if waiting:
            log.info("the other scheduler is gone; this one takes over")
        return True

    def renew(self) -> bool:
        """Whether the lock is still held (the session is alive); the row is renewed too."""
        if self._conn is None:
            return False
        try:
            held = holds_advisory_lock(self._conn, self.key)
        except SQLAlchemyError as exc:
            log.error("the scheduler lock's connection ended: %s", _reason(exc))
            return False
        return held and self.row.renew()

    def release(self) -> None:
        self.row.release()
        if self._conn is not None:
            try:
                advisory_unlock(self._conn, self.key)
            finally:
                self._conn.close()
                self._conn = None
        self._engine.dispose()


def scheduler_lock(store: Store, timeout: timedelta) -> StoreLock | AdvisoryLock:
    """The scheduler's lock for this store's backend."""
    if store.is_sqlite:
        return StoreLock(store, SCHEDULER_LOCK, timeout)
    return AdvisoryLock(store, SCHEDULER_LOCK, timeout)
