"""Real message receivers on loopback for the delivery tests: an SMTP server and a webhook.

:class:`SmtpSink` is aiosmtpd's SMTP server with a handler that keeps every
message it accepts and can be told to refuse (``421`` on the next messages, or
``550`` for a recipient). :class:`WebhookSink` is an HTTP server that keeps
every JSON body posted to it and can be told to answer ``500`` or to hang.
:class:`SilentServer` accepts TCP connections and never says a word (a mail
server that hangs). Each runs for a bounded time.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    refuse_next: int = 0
    refuse_recipients: set[str] = field(default_factory=set)
    attempts: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.lower() in self.refuse_recipients:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "421 4.3.2 try again later"
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 OK queued"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps what it receives.

    ``security`` is ``none``, ``starttls`` (STARTTLS required before mail) or
    ``ssl`` (TLS from the first byte), with ``cert``/``key`` files; ``login``
    requires that user and password. ``port`` reuses a port (a server that comes back).
    """

    def __init__(
        self,
        *,
        security: str = "none",
        cert: Path | None = None,
        key: Path | None = None,
        login: tuple[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.handler = _Handler()
        self.port = port or free_port()
        options: dict[str, Any] = {}
        if security != "none":
            assert cert is not None and key is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            if security == "ssl":
                # aiosmtpd hides AUTH unless STARTTLS was used; this link is TLS throughout
                options.update(ssl_context=context, auth_require_tls=False)
            else:
                options.update(tls_context=context, require_starttls=True)
        if login is not None:
            options.update(auth_required=True, authenticator=_Authenticator(*login))
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def refuse(self, times: int) -> None:
        """Answer the next ``times`` messages with 421 (a temporary refusal)."""
        self.handler.refuse_next = times

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class _Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(auth, LoginPassword)
            and auth.login == self.user
            and auth.password == self.password
        )
        return AuthResult(success=ok, handled=False)


def self_signed_cert(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for ``host`` (an IP address) signed by itself, and its key, as PEM files."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shopwatch test mail server")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class WebhookSink:
    """An HTTP server on 127.0.0.1 that keeps every JSON body posted to it.

    ``fail_next`` requests are answered 500; ``hang_next`` requests are read and
    never answered: the handler waits ``hang_seconds`` (or until the sink
    stops), then closes the connection without a response.
    """

    def __init__(self, *, hang_seconds: float = 8) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail_next = 0
        self.hang_next = 0
        self.hang_seconds = hang_seconds
        self.attempts = 0
        self._stopping = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                sink.attempts += 1
                if sink.hang_next > 0:
                    sink.hang_next -= 1
                    sink._stopping.wait(sink.hang_seconds)
                    self.close_connection = True
                    return
                if sink.fail_next > 0:
                    sink.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                sink.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "hook") -> str:
        """The Apprise URL of this receiver (generic JSON webhook)."""
        return f"json://127.0.0.1:{self.port}/{path}"

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # hung requests end now
        self._server.shutdown()
        self._server.server_close()


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte.

    It stands for a mail server (or any receiver) that hangs: the connection
    is made, no greeting, no answer. Connections are held until the server
    stops, or until ``lifetime`` seconds after it started, whichever is first.
    """

    def __init__(self, *, port: int | None = None, lifetime: float = 60) -> None:
        self._listener = socket.create_server(("127.0.0.1", port or 0))
        self.port = int(self._listener.getsockname()[1])
        self.lifetime = lifetime
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        held: list[socket.socket] = []
        deadline = time.monotonic() + self.lifetime
        self._listener.settimeout(0.1)
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    connection, _ = self._listener.accept()
                except TimeoutError:
                    continue
                held.append(connection)
                self.accepted += 1
        finally:
            for connection in held:
                connection.close()
            self._listener.close()

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


class LiveApp:
    """An ASGI application served by uvicorn on 127.0.0.1 in a thread, for real HTTP tests."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveApp:
        self._thread.start()
        wait_for(lambda: self._server.started, 20, "the web server to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
