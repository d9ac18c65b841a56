"""Storage stage: feed and sitemap state (conditional-GET validators, health, error streaks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.articles import as_utc
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


def list_endpoints(session: Session) -> list[Endpoint]:
    return list(session.exec(select(Endpoint).order_by(Endpoint.source, Endpoint.url)).all())


def validators_for_sources(
    session: Session, sources: Sequence[str]
) -> dict[str, tuple[str | None, str | None]]:
    """``url -> (etag, last_modified)`` for every feed and sitemap of ``sources``."""
    if not sources:
        return {}
    rows = session.exec(select(Endpoint).where(col(Endpoint.source).in_(list(sources)))).all()
    return {row.url: (row.etag, row.last_modified) for row in rows}


def source_health(session: Session) -> dict[str, list[Endpoint]]:
    """Every stored endpoint, grouped by source."""
    grouped: dict[str, list[Endpoint]] = {}
    for row in list_endpoints(session):
        grouped.setdefault(row.source, []).append(row)
    return grouped


def _endpoint(row: Endpoint) -> dict[str, Any]:
    return {
        "url": row.url,
        "kind": row.kind,
        "last_fetched_at": row.last_fetched_at,
        "last_status": row.last_status,
        "last_ok_at": row.last_ok_at,
        "consecutive_errors": row.consecutive_errors,
        "last_error": row.last_error,
        "last_warning": row.last_warning,
        "entries": row.entries_last,
    }


def source_report(
    configured_sources: Sequence[tuple[str, bool]],
    counts: dict[str, int],
    health: dict[str, list[Endpoint]],
) -> list[dict[str, Any]]:
    """One record per configured ``(name, enabled)`` source, then per stored one no longer so.

    The public shape of source health: ``shopwatch sources``, the web page and the API.
    """
    names = [name for name, _ in configured_sources]
    names += sorted((set(counts) | set(health)) - set(names))
    configured = dict(configured_sources)
    report = []
    for name in names:
        endpoints = [_endpoint(row) for row in health.get(name, [])]
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
