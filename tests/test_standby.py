"""Fault 15 on PostgreSQL: one scheduler for the fleet, a second one on standby takes over."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from newsworld import NewsWorld
from tests.conftest import Service, postgres_database, world_config
from tests.servers import wait_for

NEVER = 'schedule = "0 3 29 2 *"'


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database("shopwatch_standby") as url:
        yield url


def _config(world: NewsWorld, folder: Path, url: str) -> Path:
    extra = (
        '[scheduler]\nstop_timeout = "30s"\nlock_timeout = "8s"\noutbox_every = "1s"\n\n'
        f'[[schedules]]\nname = "news"\n{NEVER}\n'
    )
    path = world_config(world, folder, extra)
    sqlite = f"sqlite:///{folder / 'shopwatch.db'}"
    path.write_text(path.read_text(encoding="utf-8").replace(sqlite, url), encoding="utf-8")
    return path


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


def _holder_and_standby(
    config: Path, folder: Path, services: list[Service]
) -> tuple[Service, Service]:
    """A running scheduler, and a second one that has started waiting behind it."""
    first = Service(config, folder / "first.log")
    services.append(first)
    first.wait_started()
    second = Service(config, folder / "second.log")
    services.append(second)
    wait_for(lambda: "standby" in second.log, 60, "the second service to wait as a standby")
    return first, second


def _cut_lock_session(url: str, *, holding: bool) -> list[tuple[object, ...]]:
    """Terminate the scheduler lock's session that holds the lock, or the one that waits."""
    which = "IN" if holding else "NOT IN"
    return _rows(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'shopwatch scheduler lock' "
        f"AND datname = '{url.rsplit('/', 1)[1]}' "
        f"AND pid {which} (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
    )


@pytest.mark.fault(15)
def test_a_second_scheduler_waits_and_takes_over_when_the_first_is_killed(
    world: NewsWorld, tmp_path: Path, services: list[Service], pg_url: str
) -> None:
    config = _config(world, tmp_path, pg_url)
    first, second = _holder_and_standby(config, tmp_path, services)
    assert f"pid {first.proc.pid}" in second.log  # it names the holder
    time.sleep(2)  # two more tries: it still waits, and schedules nothing
    assert second.proc.poll() is None and "scheduler started" not in second.log
    assert _rows(pg_url, "SELECT pid FROM locks") == [(first.proc.pid,)]
    # the standby's own connection is cut (a database restart, say): it connects again
    assert _cut_lock_session(pg_url, holding=False) == [(True,)]
    wait_for(lambda: "did not answer" in second.log, 30, "the standby to notice")
    assert second.proc.poll() is None
    os.kill(first.proc.pid, signal.SIGKILL)  # no clean-up at all: its session just ends
    killed = time.monotonic()
    first.proc.wait(30)
    second.wait_started(30)
    took = time.monotonic() - killed
    assert took < 8, f"the standby took {took:.1f}s to take over (lock_timeout is 8s)"
    assert "takes over" in second.log
    assert _rows(pg_url, "SELECT pid FROM locks") == [(second.proc.pid,)]
    # the new holder schedules: its heartbeat job renews the lock row
    wait_for(
        lambda: _rows(pg_url, "SELECT renewed_at > acquired_at FROM locks") == [(True,)],
        30,
        "the new scheduler's heartbeat",
    )
    # a third one now waits behind the second, and SIGTERM stops a standby cleanly
    third = Service(config, tmp_path / "third.log")
    services.append(third)
    wait_for(lambda: "standby" in third.log, 60, "the third service to wait")
    assert f"pid {second.proc.pid}" in third.log
    assert third.stop() == 0
    assert "stopped while on standby" in third.log and "scheduler started" not in third.log
    assert second.proc.poll() is None  # the holder is unaffected
    assert second.stop() == 0
    assert _rows(pg_url, "SELECT count(*) FROM locks") == [(0,)]
    assert _rows(
        pg_url,
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        f"WHERE l.locktype = 'advisory' AND d.datname = '{pg_url.rsplit('/', 1)[1]}'",
    ) == [(0,)]


@pytest.mark.fault(15)
def test_a_scheduler_whose_lock_session_is_cut_stops_and_the_standby_takes_over(
    world: NewsWorld, tmp_path: Path, services: list[Service], pg_url: str
) -> None:
    """No split brain: a holder that lost its session (server restart, network) stops at once."""
    first, second = _holder_and_standby(_config(world, tmp_path, pg_url), tmp_path, services)
    # the holder's lock session, and only it
    assert _cut_lock_session(pg_url, holding=True) == [(True,)]
    assert first.proc.wait(30) == 3  # LockedError's exit code: it no longer holds the lock
    assert "lock" in first.log and "stopping" in first.log
    second.wait_started(30)
    assert _rows(pg_url, "SELECT pid FROM locks") == [(second.proc.pid,)]
    assert second.stop() == 0
