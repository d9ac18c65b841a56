"""Crawler stage: canonical URLs, so one article reached by many links is one row.

Tracking parameters (``utm_*``, ``fbclid``…) and fragments are dropped, the
scheme and host are lower-cased, default ports removed and whitespace in the
path percent-encoded. The rest of the
query is kept in its order: it can select different content.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "mtm_")
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "_ga",
        "_gl",
        "ref_src",
        "cmpid",
        "ocid",
        "smid",
        "sr_share",
        "mbid",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}
_SPACE = re.compile(r"\s")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def split_url(url: str) -> SplitResult | None:
    """The parts of ``url``; None when they cannot be read (a bad IPv6 literal or port)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # read here: an invalid port raises only when asked for
    except ValueError:
        return None
    return parts


def canonicalize(url: str) -> str:
    """The canonical form of an http(s) URL (other or unreadable URLs are returned stripped)."""
    parts = split_url(url.strip())
    if parts is None or parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        return url.strip()
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    # whitespace percent-encoded, as a browser sends it: else a path's last space is stripped
    # the next time round, and one URL gets two canonical forms
    path = _SPACE.sub(lambda m: quote(m.group()), parts.path) or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def absolute(base: str, link: str) -> str:
    """``link`` resolved against ``base``; an unreadable link is returned as it is (stripped)."""
    try:
        return urljoin(base, link.strip())
    except ValueError:
        return link.strip()


def is_http(url: str) -> bool:
    """Whether ``url`` is a readable http(s) URL with a host."""
    parts = split_url(url)
    return parts is not None and parts.scheme.lower() in DEFAULT_PORTS and bool(parts.hostname)
