"""Delivery stage: sending what the outbox holds, with bounded retries and backoff.

Digests and alerts are not sent where they are decided: they are written to
the outbox (``deliveries``) in the same transaction as their record, and
:func:`flush_outbox` sends whatever is due. A failed attempt is retried after
``[delivery] retry_base``, doubling up to ``retry_max``, at most
``max_attempts`` times; a permanent refusal (5xx) fails at once. A receiver
that did not answer within its timeout is sent nothing more in that flush (its
other deliveries wait for the next one), so one hung receiver costs a flush one
timeout, not one per message. Nothing is lost when the process stops in
between: the rows wait in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from config.model import DeliverySettings, Settings
from delivery.send import notify, send_email
from shopwatch.errors import DeliveryError
from storage.engine import Store
from storage.outbox import claim, due_ids, mark_failed, mark_sent, release_stale, retry_delay
from storage.tables import Delivery

log = logging.getLogger(__name__)

# A delivery left "sending" this long belongs to a process that died mid-send.
STALE_SENDING = timedelta(minutes=15)


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery, detached from its session."""

    id: int
    kind: str
    channel: str
    recipients: list[str]
    subject: str
    body: str
    message: bytes | None
    attempts: int


@dataclass
class FlushReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0  # not tried: their receiver did not answer earlier in this flush
    errors: list[str] = field(default_factory=list)  # of the failed and retrying attempts
    notes: list[str] = field(default_factory=list)  # of sent ones (refused recipients)


# Sends one delivery; returns a note (say, recipients the server refused) or None.
Sender = Callable[[Outgoing], str | None]


def default_sender(settings: Settings, smtp_password: str | None) -> Sender:
    """Email over ``[smtp]`` for the ``smtp`` channel, Apprise for every other URL."""

    def send(item: Outgoing) -> str | None:
        if item.channel == "smtp":
            if item.message is None:
                raise DeliveryError("an email delivery without a message", permanent=True)
            return send_email(
                settings.smtp, smtp_password, item.message, settings.digest.sender, item.recipients
            )
        return notify(item.channel, item.subject, item.body, timeout=settings.delivery.timeout)

    return send


def _outgoing(row: Delivery) -> Outgoing:
    assert row.id is not None
    return Outgoing(
        row.id,
        row.kind,
        row.channel,
        list(row.recipients),
        row.subject,
        row.body,
        row.message,
        row.attempts,
    )


def flush_outbox(
    store: Store, settings: Settings, send: Sender, *, now: datetime | None = None
) -> FlushReport:
    """Send every delivery that is due; record each outcome."""
    now = now or datetime.now(UTC)
    report = FlushReport()
    with store.write() as session:
        release_stale(session, now - STALE_SENDING)
    with store.read() as session:
        ids = due_ids(session, now)
    unanswered: set[str] = set()  # channels that hung in this flush
    for delivery_id in ids:
        if unanswered and _channel(store, delivery_id) in unanswered:
            report.deferred += 1
            continue
        with store.write() as session:
            row = claim(session, delivery_id, now)
            item = _outgoing(row) if row is not None else None
        if item is None:
            continue  # another process took it
        failure = _attempt(store, settings.delivery, send, item, now, report)
        if failure is not None and failure.unanswered:
            unanswered.add(item.channel)
    if report.deferred:
        log.warning(
            "%d delivery(ies) deferred to the next flush: their receiver did not answer",
            report.deferred,
        )
    return report


def _channel(store: Store, delivery_id: int) -> str | None:
    with store.read() as session:
        row = session.get(Delivery, delivery_id)
        return row.channel if row is not None else None


def _attempt(
    store: Store,
    policy: DeliverySettings,
    send: Sender,
    item: Outgoing,
    now: datetime,
    report: FlushReport,
) -> DeliveryError | None:
    """Send one claimed delivery and record the outcome; returns the error, if it failed."""
    try:
        note = send(item)
    except Exception as raised:  # any failure is recorded; the row never stays claimed
        exc = (
            raised
            if isinstance(raised, DeliveryError)
            else DeliveryError(f"{type(raised).__name__}: {raised}")
        )
        _record_failure(store, policy, item, exc, now, report)
        return exc
    with store.write() as session:
        mark_sent(session, item.id, datetime.now(UTC), note)
    if note:
        report.notes.append(note)
        log.warning("delivery %s sent, but: %s", item.id, note)
    report.sent += 1
    return None


def _record_failure(
    store: Store,
    policy: DeliverySettings,
    item: Outgoing,
    exc: DeliveryError,
    now: datetime,
    report: FlushReport,
) -> None:
    """Back to pending with a backoff, or failed for good (permanent, or out of attempts)."""
    attempts = item.attempts + 1
    give_up = exc.permanent or attempts >= policy.max_attempts
    retry_at = None if give_up else now + retry_delay(attempts, policy.retry_base, policy.retry_max)
    with store.write() as session:
        mark_failed(session, item.id, str(exc), retry_at)
    report.errors.append(str(exc))
    if give_up:
        report.failed += 1
        log.error("delivery %s failed for good after %d attempt(s): %s", item.id, attempts, exc)
    else:
        report.retrying += 1
        log.warning(
            "delivery %s failed (attempt %d), retrying at %s: %s", item.id, attempts, retry_at, exc
        )
