"""Scheduling: the jobs the configuration asks for, as values (no scheduler involved).

Crawl groups come from ``[[schedules]]`` (sources by name or tag, on an
interval or a cron, in a time zone); with none, every enabled source is
crawled every ``[scheduler] crawl_every``. The digest runs on
``[digest] schedule`` in its time zone when it has recipients. The outbox is
flushed every ``[scheduler] outbox_every``, and the search index compacted on
``[scheduler] optimize_schedule`` (UTC) unless it is ``"off"``. Every trigger
is built here, so a bad schedule fails at start with the name of its entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.model import Schedule, Settings
from shopwatch.errors import ConfigError


@dataclass(frozen=True)
class JobSpec:
    id: str
    kind: str  # crawl, digest, outbox or optimize
    description: str
    trigger: BaseTrigger
    sources: tuple[str, ...] = ()
    every: timedelta | None = None
    grace: timedelta | None = None


def _trigger(every: timedelta | None, cron: str | None, timezone: str) -> BaseTrigger:
    if every is not None:
        return IntervalTrigger(seconds=every.total_seconds(), timezone=timezone)
    assert cron is not None
    return CronTrigger.from_crontab(cron, timezone=timezone)


def _describe(every: timedelta | None, cron: str | None, timezone: str) -> str:
    if every is not None:
        return f"every {_duration(every)}"
    return f"cron {cron} ({timezone})"


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def group_sources(settings: Settings, entry: Schedule) -> tuple[str, ...]:
    enabled = [s for s in settings.sources if s.enabled]
    if entry.sources:
        chosen = [s.name for s in settings.sources if s.name in entry.sources]
    elif entry.tags:
        chosen = [s.name for s in enabled if set(s.tags) & set(entry.tags)]
    else:
        chosen = [s.name for s in enabled]
    if not chosen:
        raise ConfigError(f"schedule {entry.name!r} selects no source (check sources and tags)")
    return tuple(chosen)


def crawl_groups(settings: Settings) -> list[Schedule]:
    if settings.schedules:
        return list(settings.schedules)
    return [Schedule(name="all", every=settings.scheduler.crawl_every)]


def plan_jobs(settings: Settings) -> list[JobSpec]:
    """Every job ``shopwatch run`` registers, in a stable order."""
    if not settings.sources:
        raise ConfigError("nothing to schedule: add [[sources]] to the configuration")
    jobs = [
        JobSpec(
            id=f"crawl:{entry.name}",
            kind="crawl",
            description=_describe(entry.every, entry.schedule, entry.timezone),
            trigger=_trigger(entry.every, entry.schedule, entry.timezone),
            sources=group_sources(settings, entry),
            every=entry.every,
        )
        for entry in crawl_groups(settings)
    ]
    digest = settings.digest
    if digest.recipients:
        jobs.append(
            JobSpec(
                id="digest",
                kind="digest",
                description=_describe(None, digest.schedule, digest.timezone),
                trigger=_trigger(None, digest.schedule, digest.timezone),
                grace=digest.grace,
            )
        )
    every = settings.scheduler.outbox_every
    jobs.append(
        JobSpec(
            id="outbox",
            kind="outbox",
            description=f"every {_duration(every)}",
            trigger=_trigger(every, None, "UTC"),
            every=every,
        )
    )
    optimize = settings.scheduler.optimize_schedule
    if optimize != "off":
        jobs.append(
            JobSpec(
                id="optimize",
                kind="optimize",
                description=_describe(None, optimize, "UTC"),
                trigger=_trigger(None, optimize, "UTC"),
            )
        )
    return jobs


def last_fire_time(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The latest time ``trigger`` fired at or before ``now``, looking back ``lookback``."""
    last: datetime | None = None
    moment = trigger.get_next_fire_time(None, now - lookback)
    while moment is not None and moment <= now:
        last = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return last


def next_fire_time(trigger: BaseTrigger, now: datetime) -> datetime | None:
    return trigger.get_next_fire_time(None, now)
