"""Delivery stage: the two ways a message leaves: SMTP for email, Apprise for everything else.

Both raise :class:`~shopwatch.errors.DeliveryError` with a readable reason;
the outbox (:mod:`delivery.outbox`) decides whether and when to try again.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence

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
        raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc
    return f"{where} refused some recipients: {_refusals(refused)}" if refused else None


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


def notify(url: str, title: str, body: str) -> str | None:
    """Send one notification through Apprise to ``url``."""
    import apprise

    service = apprise.Apprise()
    if not service.add(url):
        raise DeliveryError(
            f"not a notification URL Apprise understands: {private_url(url)}", permanent=True
        )
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
        ok = service.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    if not ok:
        detail = " ".join(str(logs.getvalue()).split()) or "delivery failed"
        raise DeliveryError(f"{private_url(url)}: {detail[:500]}")
    return None
