"""The news world's HTTP server: a small threaded server on a free loopback port.

It answers conditional GETs (``ETag``/``If-None-Match``,
``Last-Modified``/``If-Modified-Since``) with 304, gzips when asked, and logs
every request so tests can check what was (and was not) fetched.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from newsworld.faults import FAULT_PREFIX, Faults
from newsworld.world import Resource, articles, build_site, gzipped


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    at: float  # time.time() when the request arrived


class _Handler(BaseHTTPRequestHandler):
    server: _WorldHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the world logs into NewsWorld.requests instead

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        world = self.server.world
        if self.path.startswith(FAULT_PREFIX):
            arrived = time.time()
            world.log(self, world.faults.answer(self, self.path), arrived)
            return
        resource = world.site.get(self.path)
        if resource is None:
            self._send(404, b"not found", "text/plain", send_body)
        elif self._not_modified(resource):
            self._send(304, b"", None, False, resource)
        else:
            self._send(200, resource.body, resource.content_type, send_body, resource)

    def _not_modified(self, resource: Resource) -> bool:
        tag = self.headers.get("If-None-Match")
        if tag is not None:
            return resource.etag in [t.strip() for t in tag.split(",")]
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return resource.last_modified <= parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
        return False

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        send_body: bool,
        resource: Resource | None = None,
    ) -> None:
        self.server.world.log(self, status)
        self.send_response(status)
        if resource is not None:
            self.send_header("ETag", resource.etag)
            self.send_header("Last-Modified", format_datetime(resource.last_modified, usegmt=True))
        if content_type:
            self.send_header("Content-Type", content_type)
        if status != 304 and "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 512:
            body = gzipped(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body) if status != 304 else 0))
        self.end_headers()
        if send_body and status != 304:
            self.wfile.write(body)


class _WorldHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    world: NewsWorld

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, size caps) are expected; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class NewsWorld:
    """The running world: ``base_url``, the ``site`` it serves, and the ``requests`` it saw."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _WorldHTTPServer((host, port), _Handler)
        self._server.world = self
        bound, self.port = self._server.server_address[:2]
        self.host = bound if isinstance(bound, str) else bytes(bound).decode()
        self.base_url = f"http://{self.host}:{self.port}"
        self._edits: dict[str, dict[str, Any]] = {}
        self.site = build_site(self.base_url)
        sample = next(a for a in articles() if a["publisher"] == "market-wire")
        self.faults = Faults(self.base_url, self.port, self.site[sample["path"]].body)
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def log(self, handler: BaseHTTPRequestHandler, status: int, at: float | None = None) -> None:
        entry = LoggedRequest(
            handler.command, handler.path, status, dict(handler.headers.items()), at or time.time()
        )
        with self._lock:
            self.requests.append(entry)

    def edit_article(self, slug: str, **changes: Any) -> None:
        """Change an article as its publisher would; feeds and sitemaps show the new ``updated``."""
        self._edits.setdefault(slug, {}).update(changes)
        self.site = build_site(self.base_url, self._edits)

    def requests_since(self, mark: int) -> list[LoggedRequest]:
        with self._lock:
            return self.requests[mark:]

    def start(self) -> NewsWorld:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> NewsWorld:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
