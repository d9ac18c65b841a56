"""Crawler stage: naming what went wrong with a request, for the run's error log."""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import defer, error
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from crawler.netguard import RefusedAddress

_TIMEOUTS = (DownloadTimeoutError, error.TimeoutError, defer.TimeoutError)
_NETWORK = (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    ResponseDataLossError,
    error.DNSLookupError,
    error.ConnectError,
    error.ConnectionLost,
    ResponseFailed,
    ResponseNeverReceived,
)


def _too_large(text: str) -> bool:
    lowered = text.lower()
    return "max size" in lowered or "maxsize" in lowered


def classify_failure(failure: Failure) -> tuple[str, str]:
    """``(kind, message)`` of a failed request (refused, robots, too-large, http, timeout…)."""
    exc = failure.value
    text = str(exc) or type(exc).__name__
    if isinstance(exc, RefusedAddress | UnsupportedURLSchemeError):
        return "refused", text
    if isinstance(exc, HttpError):
        return "http", f"HTTP {exc.response.status}"
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in text:
            return "robots", text
        return ("too-large" if _too_large(text) else "ignored"), text
    if isinstance(exc, DownloadCancelledError | defer.CancelledError) and _too_large(text):
        return "too-large", text
    if isinstance(exc, _TIMEOUTS):
        return "timeout", text
    if isinstance(exc, _NETWORK):
        return "network", f"{type(exc).__name__}: {text}"
    return "error", f"{type(exc).__name__}: {text}"
