"""Crawler stage: honouring ``Retry-After`` on 429 and 503, per host.

When a host answers 429 or 503 with ``Retry-After`` (seconds or an HTTP
date), its download slot is held until the deadline (capped by
``[crawl] max_retry_after``) and the request is retried within the retry
budget; other hosts keep going.

The hold starts as soon as the answer's headers arrive (the
``headers_received`` signal), while the request still occupies its slot:
were it set only when the response reaches the middleware, the slot would
already have sent its next queued request to the host that asked for a pause.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic
from typing import Any

from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.http import Request, Response
from scrapy.utils.asyncio import call_later

RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_after_seconds(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value, or None if unusable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        deadline = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=UTC)
    return max(0.0, (deadline - (now or datetime.now(UTC))).total_seconds())


class RetryAfterMiddleware:
    """Downloader middleware: hold the host's slot until ``Retry-After``, then retry."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.cap = crawler.settings.getfloat("SHOPWATCH_MAX_RETRY_AFTER")
        self.max_retries = crawler.settings.getint("RETRY_TIMES")
        self.deadlines: dict[str, float] = {}  # slot key -> monotonic time the hold ends

    @classmethod
    def from_crawler(cls, crawler: Any) -> RetryAfterMiddleware:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.on_headers, signal=signals.headers_received)
        return middleware

    def on_headers(self, headers: Any, body_length: Any, request: Request, spider: Any) -> None:
        """Hold the host's slot the moment an answer says ``Retry-After`` (any status)."""
        wait = retry_after_seconds(headers.get("Retry-After"))
        if wait is not None and not request.meta.get("dont_retry"):
            self._hold_slot(request, min(wait, self.cap))

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status not in RETRY_AFTER_STATUSES or request.meta.get("dont_retry"):
            return response
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            return response  # the ordinary RetryMiddleware handles it
        self._hold_slot(request, min(wait, self.cap))
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=f"{response.status} with Retry-After",
            max_retry_times=request.meta.get("max_retry_times", self.max_retries),
        )
        return retry or response

    def _hold_slot(self, request: Request, wait: float) -> None:
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        if slot is None or wait <= 0:
            return
        now = monotonic()
        if slot.latercall is not None and self.deadlines.get(key, 0.0) >= now + wait:
            return  # an earlier answer already holds the host at least this long
        # A pending latercall blocks the slot's queue (Downloader._process_queue);
        # replacing it moves the moment the host's queue resumes.
        if slot.latercall is not None:
            slot.latercall.cancel()
        self.deadlines[key] = now + wait
        slot.latercall = call_later(wait, downloader._latercall, slot)
