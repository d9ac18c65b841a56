"""Misbehaving routes of the news world (under ``/faults/``), for the crawler's robustness tests.

- ``/faults/feed.json``: a JSON Feed linking every route below, plus links to
  forbidden addresses (127.0.0.2, ``::ffff:127.0.0.2``);
- ``/faults/broken-rss.xml``: an RSS feed cut off mid-item (two usable entries);
- ``/faults/slow``: headers, then the body dripped one byte a second;
- ``/faults/huge``: a page larger than any sane ``max_page_bytes`` (2 MB);
- ``/faults/retry-after/N``: 429 with ``Retry-After: N`` once, then the article;
- ``/faults/retry-date/N``: 503 with ``Retry-After`` as an HTTP date N seconds ahead, once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from threading import Lock

FAULT_PREFIX = "/faults/"
HUGE_BYTES = 2_000_000


class Faults:
    def __init__(self, base_url: str, port: int, article_html: bytes) -> None:
        self.base_url, self.port, self.article_html = base_url, port, article_html
        self.hits: Counter[str] = Counter()
        self._lock = Lock()

    def feed(self) -> bytes:
        paths = ["slow", "huge", "retry-after/1", "retry-date/2"]
        urls = [f"{self.base_url}{FAULT_PREFIX}{p}" for p in paths]
        urls += [f"http://127.0.0.2:{self.port}/x", f"http://[::ffff:127.0.0.2]:{self.port}/y"]
        items = [{"id": url, "url": url, "title": url} for url in urls]
        return json.dumps(
            {"version": "https://jsonfeed.org/version/1.1", "title": "Faults", "items": items}
        ).encode()

    def broken_rss(self) -> bytes:
        links = "".join(
            f"<item><title>Item {n}</title>"
            f"<link>{self.base_url}{FAULT_PREFIX}retry-after/{n}</link></item>"
            for n in (1, 2)
        )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title>{links}'
            "<item><title>Cut off <b>mid"
        ).encode()

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> int:
        """Serve one fault route; return the status sent."""
        with self._lock:
            self.hits[path] += 1
            first = self.hits[path] == 1
        name = path.removeprefix(FAULT_PREFIX)
        if name == "feed.json":
            return _send(handler, 200, self.feed(), "application/feed+json")
        if name == "broken-rss.xml":
            return _send(handler, 200, self.broken_rss(), "application/rss+xml")
        if name == "slow":
            return _drip(handler)
        if name == "huge":
            return _send(
                handler,
                200,
                b"<html><body><p>" + b"x" * HUGE_BYTES + b"</p></body></html>",
                "text/html",
            )
        if name.startswith(("retry-after/", "retry-date/")) and first:
            seconds = int(name.rsplit("/", 1)[1])
            if name.startswith("retry-after/"):
                return _send(
                    handler, 429, b"slow down", "text/plain", {"Retry-After": str(seconds)}
                )
            deadline = datetime.now(UTC) + timedelta(seconds=seconds + 1)
            return _send(
                handler,
                503,
                b"busy",
                "text/plain",
                {"Retry-After": format_datetime(deadline, usegmt=True)},
            )
        if name.startswith(("retry-after/", "retry-date/")):
            return _send(handler, 200, self.article_html, "text/html; charset=utf-8")
        return _send(handler, 404, b"no such fault", "text/plain")


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> int:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)
    return status


def _drip(handler: BaseHTTPRequestHandler, seconds: int = 30) -> int:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(seconds))
    handler.end_headers()
    try:
        for _ in range(seconds):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(1)
    except OSError:
        pass  # the client gave up, as it should
    return 200
