"""Crawler stage: naming what went wrong with a request, for the run's error log."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

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

from crawler.netguard import RefusedAddress, RefusedName, scheme_refusal

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


def _refused_lookup(exc: BaseException, url: str, refused: Mapping[str, str]) -> str | None:
    if isinstance(exc, RefusedName):
        return str(exc)
    if not isinstance(exc, CannotResolveHostError | error.DNSLookupError):
        return None
    host = (urlsplit(url).hostname or "").lower()
    return f"refused {host}: {refused[host]}" if host in refused else None


def _redirect_refusal(exc: HttpError) -> str | None:
    """Why a redirect was not followed, when its target's scheme is forbidden."""
    response = exc.response
    location = response.headers.get("Location")
    if not 300 <= response.status < 400 or not location:
        return None
    target = urljoin(response.url, location.decode("latin-1"))
    reason = scheme_refusal(target)
    return f"refused redirect to {target[:200]}: {reason}" if reason else None


def classify_failure(
    failure: Failure,
    *,
    refused_names: Mapping[str, str] | None = None,
    too_large: bool = False,
) -> tuple[str, str]:
    """``(kind, message)`` of a failed request (refused, robots, too-large, http, timeout…).

    ``refused_names`` are the host names the resolver refused and why;
    ``too_large`` says the body received had passed the size cap.
    """
    exc = failure.value
    if exc is None:
        return "error", "unknown failure"
    text = str(exc) or type(exc).__name__
    request = getattr(failure, "request", None)
    refused = _refused_lookup(exc, request.url if request else "", refused_names or {})
    if refused:
        return "refused", refused
    if isinstance(exc, RefusedAddress | UnsupportedURLSchemeError):
        return "refused", text
    if isinstance(exc, HttpError):
        redirect = _redirect_refusal(exc)
        return ("refused", redirect) if redirect else ("http", f"HTTP {exc.response.status}")
    if too_large and isinstance(exc, DownloadCancelledError | defer.CancelledError):
        return "too-large", "the body passed max_page_bytes; the download was cancelled"
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
