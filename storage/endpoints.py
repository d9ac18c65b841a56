"""Storage stage: feed and sitemap state (conditional-GET validators, health, error streaks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlmodel import Session, col, select

from storage.articles import as_utc
from storage.runs import last_run_status
from storage.tables import Endpoint


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What one fetch of a feed or sitemap returned."""

    url: str
    source: str
    kind: str
    at: datetime
    status: int | None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    entries: int | None = None
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400


def record_fetch(session: Session, outcome: FetchOutcome) -> Endpoint:
    """Update an endpoint's state after a fetch: validators on success, the error streak on failure.

    A 304 counts as a success and keeps the stored validators.
    """
    row = session.exec(select(Endpoint).where(Endpoint.url == outcome.url)).first()
    if row is None:
        row = Endpoint(url=outcome.url, source=outcome.source, kind=outcome.kind)
        session.add(row)
    at = as_utc(outcome.at)
    row.source, row.kind = outcome.source, outcome.kind
    row.last_status, row.last_fetched_at = outcome.status, at
    if outcome.ok:
        row.last_ok_at, row.consecutive_errors, row.last_error = at, 0, None
        if outcome.status != 304:
            row.etag, row.last_modified = outcome.etag, outcome.last_modified
            row.entries_last, row.last_warning = outcome.entries, outcome.warning
    else:
        row.consecutive_errors += 1
        row.last_error = outcome.error or f"HTTP {outcome.status}"
    session.flush()
    return row


class Health(StrEnum):
    """How a feed or sitemap is doing, judged from its stored state."""

    OK = "ok"
    FAILING = "failing"  # failed lately: waiting out a backoff between attempts
    BROKEN = "broken"  # failed ``broken_after`` times in a row: tried at the longest backoff
    GONE = "gone"  # answered 410 Gone: not fetched again until reset


class BackoffSettings(Protocol):
    feed_backoff: timedelta
    feed_backoff_max: timedelta
    broken_after: int


@dataclass(frozen=True, slots=True)
class Backoff:
    """When a failing endpoint is tried again: ``base`` doubled per failure, up to ``cap``."""

    base: timedelta = timedelta(minutes=10)
    cap: timedelta = timedelta(hours=6)
    broken_after: int = 5

    @classmethod
    def of(cls, crawl: BackoffSettings) -> Backoff:
        """The policy of ``[crawl]`` (``feed_backoff``, ``feed_backoff_max``, ``broken_after``)."""
        return cls(crawl.feed_backoff, crawl.feed_backoff_max, crawl.broken_after)

    def wait(self, failures: int) -> timedelta:
        if failures <= 0:
            return timedelta(0)
        return min(self.cap, self.base * (2 ** min(failures - 1, 32)))


def health(row: Endpoint, policy: Backoff) -> Health:
    if row.consecutive_errors == 0:
        return Health.OK
    if row.last_status == 410:
        return Health.GONE
    return Health.BROKEN if row.consecutive_errors >= policy.broken_after else Health.FAILING


def next_attempt(row: Endpoint, policy: Backoff) -> datetime | None:
    """The earliest time ``row`` may be fetched again; None when at once, ``datetime.max`` never."""
    state = health(row, policy)
    if state is Health.OK or row.last_fetched_at is None:
        return None
    if state is Health.GONE:
        return datetime.max.replace(tzinfo=as_utc(row.last_fetched_at).tzinfo)
    return as_utc(row.last_fetched_at) + policy.wait(row.consecutive_errors)


def held_endpoints(
    session: Session, sources: Sequence[str], now: datetime, policy: Backoff
) -> dict[str, str]:
    """``url -> reason`` for the endpoints of ``sources`` that must not be fetched at ``now``."""
    rows = session.exec(select(Endpoint).where(col(Endpoint.source).in_(list(sources)))).all()
    held = {}
    for row in rows:
        when = next_attempt(row, policy)
        if when is not None and when > as_utc(now):
            held[row.url] = health(row, policy).value
    return held


def reset_endpoint(session: Session, url: str) -> bool:
    """Forget an endpoint's failures (a gone or broken feed is tried at the next crawl)."""
    row = session.exec(select(Endpoint).where(Endpoint.url == url)).first()
    if row is None:
        return False
    row.consecutive_errors, row.last_error = 0, None
    session.flush()
    return True


def list_endpoints(session: Session) -> list[Endpoint]:
    return list(session.exec(select(Endpoint).order_by(Endpoint.source, Endpoint.url)).all())


def validators_for_sources(
    session: Session, sources: Sequence[str], *, before_run: int | None = None
) -> dict[str, tuple[str | None, str | None]]:
    """``url -> (etag, last_modified)`` for the feeds and sitemaps of ``sources`` whose last
    crawl (the last run before ``before_run``) completed.

    A crawl that was killed or stopped may have stored a feed's validators and not yet
    the articles the feed listed; a 304 would hide those articles from every later
    crawl, so that source's feeds and sitemaps are fetched in full once more.
    """
    last = last_run_status(session, sources, before_run=before_run)
    trusted = [name for name in sources if last.get(name, "completed") == "completed"]
    if not trusted:
        return {}
    rows = session.exec(select(Endpoint).where(col(Endpoint.source).in_(trusted))).all()
    return {row.url: (row.etag, row.last_modified) for row in rows}


def source_health(session: Session) -> dict[str, list[Endpoint]]:
    """Every stored endpoint, grouped by source."""
    grouped: dict[str, list[Endpoint]] = {}
    for row in list_endpoints(session):
        grouped.setdefault(row.source, []).append(row)
    return grouped


def _endpoint(row: Endpoint, policy: Backoff) -> dict[str, Any]:
    return {
        "url": row.url,
        "kind": row.kind,
        "health": health(row, policy).value,
        "next_attempt_at": _shown(next_attempt(row, policy)),
        "last_fetched_at": row.last_fetched_at,
        "last_status": row.last_status,
        "last_ok_at": row.last_ok_at,
        "consecutive_errors": row.consecutive_errors,
        "last_error": row.last_error,
        "last_warning": row.last_warning,
        "entries": row.entries_last,
    }


def _shown(moment: datetime | None) -> datetime | None:
    return None if moment is None or moment.year == datetime.max.year else moment


def source_report(
    configured_sources: Sequence[tuple[str, bool]],
    counts: dict[str, int],
    endpoints_by_source: dict[str, list[Endpoint]],
    policy: Backoff | None = None,
) -> list[dict[str, Any]]:
    """One record per configured ``(name, enabled)`` source, then per stored one no longer so.

    The public shape of source health: ``shopwatch sources``, the web page and the API.
    """
    names = [name for name, _ in configured_sources]
    policy = policy or Backoff()
    names += sorted((set(counts) | set(endpoints_by_source)) - set(names))
    configured = dict(configured_sources)
    report = []
    for name in names:
        endpoints = [_endpoint(row, policy) for row in endpoints_by_source.get(name, [])]
        report.append(
            {
                "source": name,
                "configured": name in configured,
                "enabled": configured.get(name, False),
                "articles": counts.get(name, 0),
                "last_fetched_at": max(
                    (e["last_fetched_at"] for e in endpoints if e["last_fetched_at"]), default=None
                ),
                "consecutive_errors": max((e["consecutive_errors"] for e in endpoints), default=0),
                "endpoints": endpoints,
            }
        )
    return report
