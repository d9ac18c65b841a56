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
) -> None:
    """Send a whole RFC 5322 message; all recipients or an error (a partial refusal is raised)."""
    where = f"SMTP {smtp.host}:{smtp.port}"
    try:
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if smtp.username:
                client.login(smtp.username, password or "")
            refused = client.sendmail(sender, list(recipients), message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"{where} refused every recipient: {_refusals(exc.recipients)}"
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
    if refused:
        raise DeliveryError(
            f"{where} refused some recipients: {_refusals(refused)}", permanent=True
        )


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


def notify(url: str, title: str, body: str) -> None:
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
