"""Crawler stage: canonical URLs, so one article reached by many links is one row.

Tracking parameters (``utm_*``, ``fbclid``…) and fragments are dropped, the
scheme and host are lower-cased and default ports removed. The rest of the
query is kept in its order: it can select different content.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

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


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonicalize(url: str) -> str:
    """The canonical form of an http(s) URL (other URLs are returned stripped)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return url.strip()
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
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def absolute(base: str, link: str) -> str:
    return urljoin(base, link.strip())


def is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in DEFAULT_PORTS and bool(parts.hostname)
