"""Crawler stage: naming what went wrong with a request, for the run's error log."""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import defer, error
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from crawler.netguard import RefusedAddress

_NETWORK = (
    error.DNSLookupError,
    error.ConnectError,
    error.ConnectionLost,
    error.TimeoutError,
    ResponseFailed,
    ResponseNeverReceived,
    defer.TimeoutError,
)


def classify_failure(failure: Failure) -> tuple[str, str]:
    """``(kind, message)`` of a failed request (refused, robots, too-large, http, timeout…)."""
    exc = failure.value
    text = str(exc) or type(exc).__name__
    if isinstance(exc, RefusedAddress):
        return "refused", text
    if isinstance(exc, HttpError):
        return "http", f"HTTP {exc.response.status}"
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in text:
            return "robots", text
        if "MAXSIZE" in text or "max size" in text.lower():
            return "too-large", text
        return "ignored", text
    if isinstance(exc, defer.CancelledError) and "maxsize" in text.lower():
        return "too-large", text
    if isinstance(exc, error.TimeoutError | defer.TimeoutError):
        return "timeout", text
    if isinstance(exc, _NETWORK):
        return "network", f"{type(exc).__name__}: {text}"
    return "error", f"{type(exc).__name__}: {text}"
