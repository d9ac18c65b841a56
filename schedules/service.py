"""Scheduling: ``shopwatch run``, the long-running service.

Start: plan the jobs (a bad schedule fails here), take the store's scheduler
lock (a second service refuses to start on SQLite, and waits as a standby on
PostgreSQL: :mod:`schedules.lock`), mark runs a dead service left
``running`` as abandoned, register every job from code (nothing is unpickled
from an old job store), and catch up a digest whose time passed while the
service was down, if that was less than ``[digest] grace`` ago. Each job has
``max_instances = 1`` and ``coalesce``, so a crawl never overlaps itself and
missed runs collapse into one.

Stop (SIGTERM or SIGINT): no new job starts, running crawl children get
SIGTERM and ``[scheduler] stop_timeout`` to finish, then the lock is released.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from config.model import Settings
from delivery.digest import digest_key
from schedules.jobs import Jobs
from schedules.lock import scheduler_lock
from schedules.plan import JobSpec, last_fire_time, plan_jobs
from shopwatch.errors import LockedError
from storage.articles import as_utc
from storage.engine import Store
from storage.outbox import digest_sent
from storage.service import abandon_running_jobs, last_runs

log = logging.getLogger("shopwatch.service")

# A late run (the machine was busy or asleep) still runs within this margin.
MISFIRE_GRACE = 300


class Service:
    def __init__(self, settings: Settings, store: Store, *, smtp_password: str | None) -> None:
        self.settings, self.store = settings, store
        self.specs = plan_jobs(settings)
        self.jobs = Jobs(settings, store, smtp_password)
        self.lock = scheduler_lock(store, settings.scheduler.lock_timeout)
        self.stop_requested = threading.Event()
        self.exit_code = 0
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=len(self.specs) + 2)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE,
            },
        )

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if signum is not None:
            log.info("received %s; stopping", signal.Signals(signum).name)
        self.stop_requested.set()

    def run(self, *, install_signals: bool = True) -> int:
        """Run until asked to stop; returns the exit code.

        On PostgreSQL a second service waits here as a standby until the lock is free.
        """
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        if not self.lock.acquire(self.stop_requested):
            log.info("stopped while on standby")
            return 0
        try:
            with self.store.write() as session:
                abandoned = abandon_running_jobs(session, datetime.now(UTC))
            if abandoned:
                log.warning(
                    "%d job run(s) left running by a previous service marked abandoned", abandoned
                )
            self._register(datetime.now(UTC))
            self.scheduler.start()
            log.info("scheduler started with %d job(s)", len(self.specs))
            self.stop_requested.wait()
        finally:
            self._shutdown()
        return self.exit_code

    def _register(self, now: datetime) -> None:
        latest = {}
        with self.store.read() as session:
            latest = last_runs(session)
        for spec in self.specs:
            options: dict[str, Any] = {"id": spec.id, "name": spec.id, "trigger": spec.trigger}
            func: Callable[..., None]
            if spec.kind == "crawl":
                func, options["args"] = self.jobs.crawl, [spec]
                first = _first_crawl(spec, latest.get(spec.id), now)
                if first is not None:  # (None would add the job paused)
                    options["next_run_time"] = first
            elif spec.kind == "digest":
                func, options["args"] = self.jobs.digest, [spec]
                assert spec.grace is not None
                options["misfire_grace_time"] = int(spec.grace.total_seconds())
                self._catch_up_digest(spec, now)
            elif spec.kind == "optimize":
                func = self.jobs.optimize
            else:
                func = self.jobs.outbox
                options["next_run_time"] = now
            self.scheduler.add_job(func, **options)
        beat = max(self.settings.scheduler.lock_timeout / 4, timedelta(seconds=1))
        self.scheduler.add_job(
            self._heartbeat, "interval", seconds=beat.total_seconds(), id="heartbeat"
        )

    def _catch_up_digest(self, spec: JobSpec, now: datetime) -> None:
        assert spec.grace is not None
        missed = last_fire_time(spec.trigger, now, spec.grace)
        if missed is None:
            return
        digest = self.settings.digest
        key = digest_key(missed.astimezone(_zone(digest.timezone)).date(), digest.recipients)
        with self.store.read() as session:
            if digest_sent(session, key) is not None:
                return
        log.info("the digest due at %s was missed; sending it now", missed.isoformat())
        self.scheduler.add_job(
            self.jobs.digest, "date", run_date=now, args=[spec, missed], id="digest:catch-up"
        )

    def _heartbeat(self) -> None:
        if not self.lock.renew():
            log.error(
                "this scheduler no longer holds the store's lock (another one took it, "
                "or the lock's connection ended); stopping"
            )
            self.exit_code = LockedError.exit_code
            self.stop_requested.set()

    def _shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.pause()
        self.jobs.stop_children(self.settings.scheduler.stop_timeout.total_seconds())
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.exit_code != LockedError.exit_code:
            self.lock.release()
        log.info("scheduler stopped")


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _first_crawl(spec: JobSpec, last: Any, now: datetime) -> datetime | None:
    """Interval crawls start at once, unless the last one started less than an interval ago."""
    if spec.every is None:
        return None  # cron: its next time
    if last is None:
        return now
    started = as_utc(last.started_at)
    return max(now, started + spec.every)
