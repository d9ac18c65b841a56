"""A misbehaving web server on loopback, for the fault-injection tests and the soak run.

In the spirit of Scrapy's own test mock server: each route is a small
function that writes to the socket whatever fault it stands for (a body
dripped a byte a second, a connection dropped mid-body, broken chunked
encoding, a compression bomb, a redirect to a forbidden place, a 304...).
Tests add routes with :meth:`FaultServer.route` and read what was asked of
the server from :attr:`FaultServer.hits`.

The server binds 127.0.0.1 only and stops by itself after ``lifetime``
seconds even if a test forgets it; every fault loop is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

Route = Callable[["Request"], None]

ARTICLE_WORDS = (
    "TikTok Shop said on Tuesday that its sales in the region grew strongly over the quarter, "
    "while Shein and Temu kept cutting prices to win shoppers. "
)


@dataclass(frozen=True)
class Hit:
    path: str
    at: float
    headers: dict[str, str]


class Request:
    """One request as a route sees it: its path, headers and the raw socket to misbehave on."""

    def __init__(self, handler: BaseHTTPRequestHandler, server: FaultServer) -> None:
        self.handler, self.server = handler, server
        self.path = handler.path
        self.headers = {k.lower(): v for k, v in handler.headers.items()}

    def send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        """A whole answer; ``length`` overrides the Content-Length sent (to lie about it)."""
        self.head(
            status,
            content_type,
            {"Content-Length": str(len(body) if length is None else length), **(headers or {})},
        )
        self.write(body)

    def head(self, status: int, content_type: str, headers: dict[str, str] | None = None) -> None:
        handler = self.handler
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()

    def write(self, data: bytes) -> bool:
        """Write raw bytes; False once the client has gone."""
        try:
            self.handler.wfile.write(data)
            self.handler.wfile.flush()
        except OSError:
            return False
        return True

    def reset(self) -> None:
        """Drop the connection with a TCP reset."""
        sock = self.handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.handler.close_connection = True
        sock.close()

    def close(self) -> None:
        """End the connection cleanly (FIN), whatever was promised."""
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-answer is what these faults are for: not worth a traceback."""


class FaultServer:
    """A threaded HTTP server on 127.0.0.1 whose routes are faults; a context manager."""

    def __init__(self, lifetime: float = 300) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self.lifetime = lifetime
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer._serve(self)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, answer: Route) -> str:
        """Serve ``answer`` at ``path``; return its URL."""
        self.routes[path] = answer
        return self.url(path)

    def hits_of(self, path: str) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.path == path]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        request = Request(handler, self)
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.hits.append(Hit(handler.path, time.monotonic(), request.headers))
        answer = self.routes.get(path)
        if answer is None:
            request.send(404, b"no such route", "text/plain")
            return
        answer(request)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


# --- answers --------------------------------------------------------------------------------


def article_html(title: str, paragraphs: int = 6) -> bytes:
    """A page that extracts as an article (title, date, a few paragraphs)."""
    body = "".join(
        f"<p>{ARTICLE_WORDS * 2} Paragraph {n} of {title}.</p>" for n in range(paragraphs)
    )
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        f'<meta property="article:published_time" content="2026-11-30T08:00:00Z"></head>'
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def rss(items: list[tuple[str, str]], guid: str | None = None) -> bytes:
    """An RSS feed of ``(title, url)`` items; every item shares ``guid`` when given."""
    body = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(url)}</link>"
        f"<guid>{escape(guid or url)}</guid>"
        "<pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate></item>"
        for title, url in items
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Faults</title>'
    return f"{head}{body}</channel></rss>".encode()


def sitemap(urls: list[str]) -> bytes:
    body = "".join(f"<url><loc>{escape(u)}</loc></url>" for u in urls)
    return (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{body}</urlset>"
    ).encode()


def page(
    body: bytes,
    status: int = 200,
    content_type: str = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> Route:
    return lambda request: request.send(status, body, content_type, headers)


def drip(seconds: int = 30) -> Route:
    """Headers at once, then the body one byte a second (bounded by ``seconds``)."""

    def answer(request: Request) -> None:
        request.head(200, "text/html", {"Content-Length": str(seconds)})
        for _ in range(seconds):
            if not request.write(b"x"):
                return
            time.sleep(1)

    return answer


def cut_off(how: str) -> Route:
    """Part of an article, then the connection ends: ``reset``, ``short`` or ``chunked``."""
    html = article_html("Cut off")
    half = html[: len(html) // 2]

    def answer(request: Request) -> None:
        if how == "chunked":
            request.head(200, "text/html", {"Transfer-Encoding": "chunked"})
            request.write(b"%x\r\n%s\r\n" % (len(half), half))
            request.write(b"zz-not-a-size\r\n" + html[len(half) :])
            request.close()
            return
        request.head(200, "text/html", {"Content-Length": str(len(html))})
        request.write(half)
        request.reset() if how == "reset" else request.close()

    return answer


def retry_after(first: int, value: Callable[[], str], then: Route) -> Route:
    """``first`` answers 503 with ``Retry-After: value()`` (made when sent), then ``then``."""
    count = {"n": 0}

    def answer(request: Request) -> None:
        count["n"] += 1
        if count["n"] <= first:
            request.send(503, b"busy", "text/plain", {"Retry-After": value()})
        else:
            then(request)

    return answer


def http_date(seconds_ahead: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_ahead), usegmt=True)


def redirect(location: str, status: int = 302) -> Route:
    return lambda request: request.send(status, b"", "text/plain", {"Location": location})


def conditional(body: bytes, content_type: str, etag: str, modified: str) -> Route:
    """200 with validators, or 304 when the request carries them."""

    def answer(request: Request) -> None:
        if (
            request.headers.get("if-none-match") == etag
            or request.headers.get("if-modified-since") == modified
        ):
            request.send(304, b"", content_type, {"ETag": etag})
            return
        request.send(200, body, content_type, {"ETag": etag, "Last-Modified": modified})

    return answer


def switchable(routes: list[Route]) -> tuple[Route, Callable[[int], None]]:
    """A route answering as ``routes[i]``, ``i`` chosen with the returned setter."""
    chosen = {"i": 0}

    def answer(request: Request) -> None:
        routes[chosen["i"]](request)

    def choose(index: int) -> None:
        chosen["i"] = index

    return answer, choose


# --- bombs ----------------------------------------------------------------------------------

_BOMBS: dict[tuple[str, int], bytes] = {}
MEBIBYTE = 1 << 20


def bomb(encoding: str, expanded: int) -> bytes:
    """``expanded`` bytes of spaces compressed with ``encoding`` (gzip, deflate or br); cached."""
    key = (encoding, expanded)
    if key not in _BOMBS:
        _BOMBS[key] = _compress(encoding, expanded)
    return _BOMBS[key]


def _compress(encoding: str, expanded: int) -> bytes:
    """Compress one block and repeat it: after a full flush every block compresses the same."""
    block, count = b" " * MEBIBYTE, expanded // MEBIBYTE
    if encoding == "br":
        import brotli

        compressor = brotli.Compressor(quality=5)
        parts = [compressor.process(block) for _ in range(count)]
        return b"".join(parts) + compressor.finish()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
    once = deflater.compress(block) + deflater.flush(zlib.Z_FULL_FLUSH)
    raw = once * count + deflater.flush(zlib.Z_FINISH)
    crc, adler = 0, 1
    for _ in range(count):
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    if encoding == "gzip":
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        return header + raw + struct.pack("<II", crc, (count * MEBIBYTE) & 0xFFFFFFFF)
    return b"\x78\xda" + raw + struct.pack(">I", adler)  # zlib-wrapped, as HTTP's deflate is


def compressed(encoding: str, expanded: int) -> Route:
    body = bomb(encoding, expanded)
    return page(body, headers={"Content-Encoding": encoding})


def endless(total: int, chunk: int = 64 * 1024) -> Route:
    """A page of ``total`` bytes with no Content-Length (close-delimited), streamed in chunks."""

    def answer(request: Request) -> None:
        request.head(200, "text/html", {"Connection": "close"})
        request.write(b"<html><body><p>")
        block = b"y" * chunk
        for _ in range(total // chunk):
            if not request.write(block):
                return
        request.close()

    return answer
