"""Delivery stage: the two ways a message leaves: SMTP for email, Apprise for everything else.

Both raise :class:`~shopwatch.errors.DeliveryError` with a readable reason;
the outbox (:mod:`delivery.outbox`) decides whether and when to try again.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from config.model import SmtpSettings
from shopwatch.errors import DeliveryError


def send_email(
    smtp: SmtpSettings,
    password: str | None,
    message: bytes,
    sender: str,
    recipients: Sequence[str],
) -> str | None:
    """Send a whole RFC 5322 message; returns a note naming refused recipients, if any.

    When the server refuses every recipient the error is permanent if every
    refusal is (5xx). When it refuses only some, the message went to the
    others and is not sent again: the refusals come back as the note.
    """
    where = f"SMTP {smtp.host}:{smtp.port}"
    if smtp.username and not password:
        raise DeliveryError(
            f"{where}: [smtp] username is set but ${smtp.password_env} holds no password",
            permanent=True,
        )
    try:
        client: smtplib.SMTP
        context = ssl.create_default_context(cafile=smtp.ca_file)  # verifies the host name
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if smtp.username:
                client.login(smtp.username, password or "")  # (checked above)
            refused = client.sendmail(sender, list(recipients), message)
    except smtplib.SMTPRecipientsRefused as exc:
        permanent = all(500 <= code < 600 for code, _ in exc.recipients.values())
        raise DeliveryError(
            f"{where} refused every recipient: {_refusals(exc.recipients)}", permanent=permanent
        ) from exc
    except smtplib.SMTPResponseException as exc:
        reason = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        permanent = 500 <= exc.smtp_code < 600 and exc.smtp_code not in (530, 535, 554)
        raise DeliveryError(
            f"{where} answered {exc.smtp_code} {reason}", permanent=permanent
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        if _timed_out(exc):
            raise DeliveryError(
                f"{where}: no answer within {smtp.timeout:g}s ([smtp] timeout)", unanswered=True
            ) from exc
        raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc
    return f"{where} refused some recipients: {_refusals(refused)}" if refused else None


def _timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, a socket timeout.

    smtplib reports a reply that never came as ``SMTPServerDisconnected``
    raised from the ``TimeoutError``.
    """
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{who} ({code} {text.decode(errors='replace')})" for who, (code, text) in refused.items()
    )


def private_url(url: str) -> str:
    """An Apprise URL with its secrets masked, for logs and history."""
    import apprise

    instance = apprise.Apprise.instantiate(url)
    if instance is None:
        return url.split("://", 1)[0] + "://…"
    return str(instance.url(privacy=True)).split("?", 1)[0]


def notify(url: str, title: str, body: str, *, timeout: float) -> str | None:
    """Send one notification through Apprise to ``url``, waiting at most ``timeout`` seconds
    to connect and then for each answer (unless the URL sets its own ``cto``/``rto``)."""
    import apprise

    service = apprise.Apprise()
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None or not service.add(plugin):
        raise DeliveryError(
            f"not a notification URL Apprise understands: {private_url(url)}", permanent=True
        )
    _limit_wait(plugin, url, timeout)
    started = time.monotonic()
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
        ok = service.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    if not ok:
        detail = " ".join(str(logs.getvalue()).split())[:500] or "delivery failed"
        # a request that took as long as a timeout allows was not answered in time
        limit = min(plugin.socket_connect_timeout, plugin.socket_read_timeout)
        if time.monotonic() - started >= limit:
            raise DeliveryError(
                f"{private_url(url)}: {detail} (no answer within {limit:g}s)", unanswered=True
            )
        raise DeliveryError(f"{private_url(url)}: {detail}")
    return None


def _limit_wait(plugin: Any, url: str, timeout: float) -> None:
    """Set the plugin's connect and read timeouts, except those its URL gives (cto, rto)."""
    given = {key.lower() for key in parse_qs(urlsplit(url).query)}
    if "cto" not in given:
        plugin.socket_connect_timeout = timeout
    if "rto" not in given:
        plugin.socket_read_timeout = timeout
