"""Reading the dates and times users type (the CLI's options, the web app's parameters)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shopwatch.errors import UsageError


def parse_when(
    value: str | None, *, end_of_day: bool = False, option: str = "date"
) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO 8601 date-time, in UTC unless it says otherwise.

    With ``end_of_day`` a bare date means the end of that day (``--until
    2026-11-12`` includes the 12th).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(
            f"{option}: {value!r} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and len(text) == 10:
        if moment.date() == datetime.max.date():
            return datetime.max.replace(tzinfo=UTC)
        moment += timedelta(days=1)
    return moment
