"""Crawler stage helper: reading the ISO 8601 dates of pages, feeds and sitemaps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_COMPACT_OFFSET = re.compile(r".*[+-]\d{4}$")


def parse_iso(value: Any) -> datetime | None:
    """An ISO 8601 date or date-time, aware (UTC when no offset is given).

    Accepts ``Z`` and compact offsets (``+0100``); anything unreadable, or outside the
    range of dates once told in UTC, gives None.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    if _COMPACT_OFFSET.match(text):
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.strptime(text[:10], "%Y-%m-%d")
        except ValueError:
            return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment if _has_utc_time(moment) else None


def _has_utc_time(moment: datetime) -> bool:
    """Whether ``moment`` can be told in UTC (year 1 at +05:00 cannot: it falls before year 1)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True
