"""Crawler stage: the counts and errors of one crawl run, per source.

Totals: ``fetched`` (article pages downloaded), ``new``, ``updated``,
``skipped`` (known and unchanged, robots-disallowed, not HTML, no article
text) and ``failed`` (network, HTTP, extraction or store errors). Skips and
feed results are broken down by reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

TOTAL_KEYS = ("fetched", "new", "updated", "skipped", "failed")
MAX_ERRORS_KEPT = 2000


class Tally:
    def __init__(self, on_change: Callable[[Tally], None] | None = None) -> None:
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.reasons: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.errors: list[dict[str, Any]] = []
        self.errors_dropped = 0
        self.close_reason: str | None = None
        self.on_change = on_change

    def add(self, source: str, key: str, n: int = 1) -> None:
        self.counts[source][key] += n
        if self.on_change is not None:
            self.on_change(self)

    def skip(self, source: str, reason: str) -> None:
        self.reasons[source][reason] += 1
        self.add(source, "skipped")

    def fail(self, source: str, url: str, kind: str, message: str, *, count: bool = True) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(
                {
                    "source": source,
                    "url": url,
                    "kind": kind,
                    "message": message,
                    "at": datetime.now(UTC),
                }
            )
        else:
            self.errors_dropped += 1
        if count:
            self.add(source, "failed")

    def totals(self) -> dict[str, int]:
        return {key: sum(c[key] for c in self.counts.values()) for key in TOTAL_KEYS}

    def per_source(self) -> dict[str, dict[str, Any]]:
        report: dict[str, dict[str, Any]] = {}
        for source in sorted(set(self.counts) | set(self.reasons)):
            entry: dict[str, Any] = dict(self.counts[source])
            for key in TOTAL_KEYS:
                entry.setdefault(key, 0)
            if self.reasons[source]:
                entry["skip_reasons"] = dict(self.reasons[source])
            report[source] = entry
        return report
