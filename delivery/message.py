"""Delivery stage: a digest or an alert as an email message, and the digest as a standalone page.

A digest mail is ``multipart/alternative``: the plain text first, then the
HTML, wrapped with the chart PNG in a ``multipart/related`` part when there is
a chart (the HTML shows it through its ``cid:``). Subjects go through
:func:`clean_header`, so an article title cannot add header lines.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from delivery.model import Alert, Digest
from delivery.render import render_html, render_text

MSGID_DOMAIN = "shopwatch"
CHART_FILENAME = "mentions.png"

_SPACE = re.compile(r"\s+")


def clean_header(text: str, limit: int = 200) -> str:
    """``text`` as one header line of at most ``limit`` characters.

    Whitespace runs (CR and LF included) become one space; a cut text ends in "…".
    """
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def _message(subject: str, sender: str, recipients: list[str]) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = clean_header(subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=MSGID_DOMAIN)
    return message


def digest_message(
    digest: Digest, *, sender: str, recipients: list[str], chart_png: bytes | None
) -> EmailMessage:
    """The digest mail: text/plain, then text/html with the chart inline when there is one."""
    message = _message(digest.subject, sender, recipients)
    message.set_content(render_text(digest), cte="quoted-printable")
    if chart_png is None:
        message.add_alternative(render_html(digest, None), subtype="html", cte="quoted-printable")
        return message
    cid = make_msgid(domain=MSGID_DOMAIN)
    message.add_alternative(
        render_html(digest, "cid:" + cid.strip("<>")), subtype="html", cte="quoted-printable"
    )
    html = next(part for part in message.iter_parts() if part.get_content_type() == "text/html")
    html.add_related(
        chart_png,
        maintype="image",
        subtype="png",
        cid=cid,
        disposition="inline",
        filename=CHART_FILENAME,
    )
    return message


def standalone_html(digest: Digest, chart_png: bytes | None) -> str:
    """The digest as one HTML file, the chart embedded as a ``data:`` URI."""
    if chart_png is None:
        return render_html(digest, None)
    encoded = base64.b64encode(chart_png).decode("ascii")
    return render_html(digest, "data:image/png;base64," + encoded)


def alert_message(alert: Alert, *, sender: str, recipients: list[str]) -> EmailMessage:
    """The alert mail: its subject and body as plain text."""
    message = _message(alert.subject, sender, recipients)
    message.set_content(alert.body, cte="quoted-printable")
    return message
