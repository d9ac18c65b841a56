"""Scheduling: one scheduler per store, held by a lock row that is renewed while it runs.

A second ``shopwatch run`` on the same store finds the lock held and refuses
to start, naming the holder. A holder that died is recognised either at once
(same host, its process is gone) or when it has not renewed the lock for
``[scheduler] lock_timeout``.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from shopwatch.errors import LockedError
from storage.engine import Store
from storage.service import Holder, lock_holder, release_lock, renew_lock, try_lock

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

    def acquire(self) -> None:
        now = datetime.now(UTC)
        me = Holder(self.owner, socket.gethostname(), os.getpid(), now, now)
        with self.store.read() as session:
            current = lock_holder(session, self.name)
        dead = current is not None and _process_gone(current)
        with self.store.write() as session:
            holder = try_lock(session, self.name, me, stale_before=now - self.timeout, dead=dead)
        if holder is not None:
            raise LockedError(
                f"another scheduler is running on this store (pid {holder.pid} on {holder.host}, "
                f"since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC, last seen "
                f"{holder.renewed_at:%H:%M:%S} UTC); stop it first, or wait "
                f"{int(self.timeout.total_seconds())}s after it died"
            )

    def renew(self) -> bool:
        with self.store.write() as session:
            return renew_lock(session, self.name, self.owner, datetime.now(UTC))

    def release(self) -> None:
        with self.store.write() as session:
            release_lock(session, self.name, self.owner)
