"""The scheduler's pure parts and its lock: plans from configuration, fire times, lock takeover."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.model import Schedule, Settings
from schedules.lock import SCHEDULER_LOCK, StoreLock
from schedules.plan import last_fire_time, next_fire_time, plan_jobs
from schedules.service import _first_crawl
from shopwatch.errors import ConfigError, LockedError
from storage.engine import open_store
from storage.service import Holder, lock_holder, try_lock
from storage.tables import JobRun, ServiceLock


def _settings(**extra: object) -> Settings:
    base: dict[str, object] = {
        "sources": [
            {"name": "a", "feeds": ["https://a.example/feed"], "tags": ["uk"]},
            {"name": "b", "feeds": ["https://b.example/feed"], "tags": ["us"]},
            {"name": "c", "feeds": ["https://c.example/feed"], "enabled": False, "tags": ["uk"]},
        ],
    }
    base.update(extra)
    return Settings.model_validate(base)


def test_plan_groups_sources_by_name_tag_or_all() -> None:
    settings = _settings(
        schedules=[
            {"name": "uk", "tags": ["uk"], "every": "15m"},
            {"name": "named", "sources": ["b", "c"], "schedule": "30 6 * * 1-5"},
            {"name": "rest", "every": "2h", "timezone": "Europe/London"},
        ],
        digest={"recipients": ["a@example.com"], "timezone": "Asia/Tokyo"},
    )
    jobs = {job.id: job for job in plan_jobs(settings)}
    assert list(jobs) == ["crawl:uk", "crawl:named", "crawl:rest", "digest", "outbox", "optimize"]
    assert jobs["crawl:uk"].sources == ("a",)  # c is disabled
    assert jobs["crawl:named"].sources == ("b", "c")  # named sources run even if disabled
    assert jobs["crawl:rest"].sources == ("a", "b")
    assert jobs["crawl:uk"].description == "every 15m"
    assert jobs["crawl:named"].description == "cron 30 6 * * 1-5 (UTC)"
    assert jobs["digest"].description == "cron 0 7 * * * (Asia/Tokyo)"
    assert jobs["digest"].grace == timedelta(hours=6)


def test_without_schedules_every_source_is_crawled_hourly_and_no_digest_without_recipients() -> (
    None
):
    jobs = plan_jobs(_settings())
    assert [(j.id, j.every) for j in jobs] == [
        ("crawl:all", timedelta(hours=1)),
        ("outbox", timedelta(minutes=1)),
        ("optimize", None),
    ]
    assert jobs[-1].description == "cron 30 3 * * * (UTC)"  # the search index, nightly


def test_the_nightly_index_compaction_can_be_moved_or_turned_off() -> None:
    moved = plan_jobs(_settings(scheduler={"optimize_schedule": "0 2 * * 0"}))
    assert moved[-1].id == "optimize" and moved[-1].description == "cron 0 2 * * 0 (UTC)"
    off = plan_jobs(_settings(scheduler={"optimize_schedule": "off"}))
    assert "optimize" not in [job.id for job in off]
    with pytest.raises(ValidationError, match="optimize_schedule"):
        _settings(scheduler={"optimize_schedule": "nightly"})


def test_a_group_that_selects_nothing_fails_at_start_with_its_name() -> None:
    settings = _settings(schedules=[{"name": "nothing", "tags": ["fr"], "every": "1h"}])
    with pytest.raises(ConfigError, match="'nothing' selects no source"):
        plan_jobs(settings)
    with pytest.raises(ConfigError, match="add \\[\\[sources\\]\\]"):
        plan_jobs(Settings())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "every": "15m", "schedule": "0 7 * * *"}, "exactly one of"),
        ({"name": "x"}, "exactly one of"),
        ({"name": "x", "schedule": "61 7 * * *"}, "not a cron expression"),
        ({"name": "x", "every": "soon"}, "not a duration"),
        ({"name": "x", "every": "1h", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_bad_schedules_are_refused_with_the_reason(entry: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.model_validate(entry)


def test_last_and_next_fire_time_of_a_cron_in_its_zone() -> None:
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab("0 7 * * *", timezone="Europe/London")
    now = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)  # 10:30 in London (BST)
    last = last_fire_time(trigger, now, timedelta(hours=6))
    assert last is not None and last.astimezone(UTC) == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    assert last_fire_time(trigger, now, timedelta(hours=3)) is None  # outside the grace
    following = next_fire_time(trigger, now)
    assert following is not None
    assert following.astimezone(UTC) == datetime(2026, 7, 2, 6, 0, tzinfo=UTC)


def test_an_interval_crawl_resumes_its_rhythm_after_a_restart() -> None:
    spec = next(j for j in plan_jobs(_settings()) if j.kind == "crawl")
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert _first_crawl(spec, None, now) == now  # never ran: at once
    recent = JobRun(job=spec.id, started_at=now - timedelta(minutes=20))
    assert _first_crawl(spec, recent, now) == now + timedelta(minutes=40)
    old = JobRun(job=spec.id, started_at=now - timedelta(hours=5))
    assert _first_crawl(spec, old, now) == now


def _holder(pid: int, *, renewed: datetime, owner: str = "other") -> Holder:
    return Holder(owner, socket.gethostname(), pid, renewed, renewed)


def test_the_lock_refuses_a_live_holder_and_takes_over_a_dead_or_stale_one(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    now = datetime.now(UTC)
    lock = StoreLock(store, SCHEDULER_LOCK, timedelta(minutes=2))
    # a live process (this one) holds it and renewed it just now
    with store.write() as session:
        assert (
            try_lock(session, SCHEDULER_LOCK, _holder(os.getpid(), renewed=now), stale_before=now)
            is None
        )
    with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
        lock.acquire()
    # its holder stopped renewing more than lock_timeout ago: taken over
    with store.write() as session:
        row = session.get(ServiceLock, SCHEDULER_LOCK)
        assert row is not None
        row.renewed_at = now - timedelta(minutes=5)
        session.add(row)
    lock.acquire()
    with store.read() as session:
        holder = lock_holder(session, SCHEDULER_LOCK)
    assert holder is not None and holder.owner == lock.owner
    assert lock.renew()
    lock.release()
    # a holder on this host whose process is gone: taken over at once, before it goes stale
    gone = _dead_pid()
    with store.write() as session:
        assert (
            try_lock(session, SCHEDULER_LOCK, _holder(gone, renewed=now), stale_before=now) is None
        )
    lock.acquire()
    assert not StoreLock(store, SCHEDULER_LOCK, timedelta(minutes=2)).renew()
    store.close()


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
