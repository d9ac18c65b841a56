"""Storage stage: the outbox of messages to deliver, and the digest and alert records.

A message is written to the outbox in the same transaction as the record that
caused it (a digest for a day, an alert for a rule and story), so a crash
between deciding and sending loses nothing: the next flush sends it. Claiming a
delivery (``pending`` → ``sending``) is a conditional update, so two processes
flushing at once never send the same row twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.articles import as_utc
from storage.engine import insert_missing, rowcount
from storage.tables import AlertRecord, Delivery, DigestRecord

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")


def digest_sent(session: Session, key: str) -> DigestRecord | None:
    return session.exec(select(DigestRecord).where(DigestRecord.key == key)).first()


def record_digest(session: Session, record: DigestRecord) -> DigestRecord:
    session.add(record)
    session.flush()
    return record


def alert_fired(session: Session, rule: str, story_id: int) -> bool:
    statement = select(AlertRecord.id).where(
        AlertRecord.rule == rule, AlertRecord.story_id == story_id
    )
    return session.exec(statement).first() is not None


def record_alert(session: Session, record: AlertRecord) -> AlertRecord:
    session.add(record)
    session.flush()
    return record


def enqueue(session: Session, delivery: Delivery) -> Delivery | None:
    """Add ``delivery`` unless one with its key exists; return it, or None when it existed."""
    exists = session.exec(select(Delivery.id).where(Delivery.key == delivery.key)).first()
    if exists is not None:
        return None
    values = delivery.model_dump(exclude={"id"})
    added = insert_missing(session, Delivery.__table__, values, "key")  # type: ignore[attr-defined]
    if added is None:  # another process enqueued the key since the look-up
        return None
    return session.get(Delivery, added)


def release_stale(session: Session, before: datetime) -> int:
    """Return deliveries left ``sending`` by a process that died (claimed before ``before``)."""
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.status) == "sending", col(Delivery.next_attempt_at) < as_utc(before))
        .values(status="pending")
    )
    return rowcount(result)


def due_ids(session: Session, now: datetime, limit: int = 100) -> list[int]:
    statement = (
        select(Delivery.id)
        .where(col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= as_utc(now))
        .order_by(col(Delivery.next_attempt_at))
        .limit(limit)
    )
    return [int(i) for i in session.exec(statement).all() if i is not None]


def claim(session: Session, delivery_id: int, now: datetime) -> Delivery | None:
    """Mark a pending delivery as being sent by this process; None if another took it."""
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.status) == "pending")
        .values(status="sending", next_attempt_at=as_utc(now))
    )
    if not rowcount(result):
        return None
    return session.get(Delivery, delivery_id)


def mark_sent(session: Session, delivery_id: int, now: datetime, note: str | None = None) -> None:
    """Record a delivery as sent; ``note`` keeps what went partly wrong (refused recipients)."""
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id)
        .values(
            status="sent",
            sent_at=as_utc(now),
            attempts=Delivery.attempts + 1,
            last_error=note[:2000] if note else None,
        )
    )


def mark_failed(session: Session, delivery_id: int, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt: back to ``pending`` until ``retry_at``, or ``failed`` for good."""
    values: dict[str, Any] = {
        "attempts": Delivery.attempts + 1,
        "last_error": error[:2000],
        "status": "pending" if retry_at is not None else "failed",
    }
    if retry_at is not None:
        values["next_attempt_at"] = as_utc(retry_at)
    session.execute(update(Delivery).where(col(Delivery.id) == delivery_id).values(**values))


def requeue_failed(session: Session, now: datetime) -> int:
    """Give every delivery that failed for good a fresh set of attempts, due ``now``."""
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.status) == "failed")
        .values(status="pending", attempts=0, next_attempt_at=as_utc(now))
    )
    return rowcount(result)


def retry_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff: ``base``, 2×, 4×… capped at ``cap`` (``attempts`` made so far ≥ 1)."""
    return min(base * (2 ** max(attempts - 1, 0)), cap)


def list_deliveries(
    session: Session, *, kind: str | None = None, refs: Sequence[int] = (), limit: int = 100
) -> list[Delivery]:
    statement = select(Delivery).order_by(col(Delivery.created_at).desc()).limit(limit)
    if kind:
        statement = statement.where(Delivery.kind == kind)
    if refs:
        statement = statement.where(col(Delivery.ref).in_(list(refs)))
    return list(session.exec(statement).all())


def list_alerts(session: Session, *, limit: int = 100) -> list[AlertRecord]:
    statement = select(AlertRecord).order_by(col(AlertRecord.fired_at).desc()).limit(limit)
    return list(session.exec(statement).all())


def outbox_counts(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.exec(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts
