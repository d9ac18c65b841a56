"""Storage stage: crawl runs and the errors met during them."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.articles import as_utc
from storage.tables import CrawlError, CrawlRun

TOTALS = ("fetched", "new", "updated", "skipped", "failed")


def start_run(session: Session, sources: Sequence[str]) -> int:
    """Record a crawl run that starts now, in this process (so a dead one can be told apart)."""
    run = CrawlRun(
        started_at=_now(), sources=list(sources), pid=os.getpid(), host=socket.gethostname()
    )
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def finish_run(
    session: Session, run_id: int, per_source: dict[str, dict[str, Any]], status: str
) -> CrawlRun:
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise KeyError(f"no crawl run {run_id}")
    run.finished_at, run.status, run.per_source = _now(), status, per_source
    for key in TOTALS:
        setattr(run, key, sum(int(counts.get(key, 0)) for counts in per_source.values()))
    session.flush()
    return run


def record_errors(session: Session, run_id: int | None, errors: Sequence[dict[str, Any]]) -> None:
    for error in errors:
        session.add(
            CrawlError(
                run_id=run_id,
                source=error.get("source"),
                url=error["url"],
                kind=error["kind"],
                message=str(error["message"])[:2000],
                at=as_utc(error.get("at")) or _now(),
            )
        )
    session.flush()


def latest_runs(session: Session, limit: int = 10) -> list[CrawlRun]:
    statement = select(CrawlRun).order_by(col(CrawlRun.id).desc()).limit(limit)
    return list(session.exec(statement).all())


def last_run_status(
    session: Session, sources: Sequence[str], *, before_run: int | None = None, window: int = 1000
) -> dict[str, str]:
    """``source -> status`` of the latest of the last ``window`` runs (before ``before_run``)
    that crawled it; a source none of them crawled is absent."""
    statement = select(CrawlRun.status, CrawlRun.sources).order_by(col(CrawlRun.id).desc())
    if before_run is not None:
        statement = statement.where(col(CrawlRun.id) < before_run)
    wanted, found = set(sources), dict[str, str]()
    for status, names in session.exec(statement.limit(window)):
        for name in wanted.intersection(names) - found.keys():
            found[name] = status
        if len(found) == len(wanted):
            break
    return found


def run_errors(session: Session, run_id: int) -> list[CrawlError]:
    return list(session.exec(select(CrawlError).where(CrawlError.run_id == run_id)).all())


def _now() -> datetime:
    return datetime.now(UTC)
