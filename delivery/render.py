"""Delivery stage: a :class:`~delivery.model.Digest` as an HTML page and as plain text.

Both come from Jinja2 templates in ``delivery/templates``. The HTML template is
autoescaped and its ``<style>`` block is inlined into ``style`` attributes so
mail clients that drop ``<head>`` styles still show it; the text template is
not escaped, but every untrusted value goes through :func:`oneline` so a title
cannot forge lines of its own. Links only ever point at http(s) URLs
(:func:`safe_href`).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from delivery.model import Digest, EventLine, FigureLine, format_value

EMPTY_LINE = "Nothing was published about the watched entities in this window."

EVENT_TYPES: tuple[tuple[str, str], ...] = (
    ("leadership", "Leadership"),
    ("sales", "Sales"),
    ("layoffs", "Layoffs"),
    ("hiring", "Hiring"),
    ("expansion", "Expansion"),
    ("regulation", "Regulation"),
)

CHANGES: dict[str, str] = {"up": "▲ up", "down": "▼ down", "none": "– none"}

TEXT_WIDTH = 78

# CR, LF and every other character str.splitlines() breaks a line at
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")


def safe_href(url: object) -> str:
    """``url`` when it is an absolute http(s) URL, else ``"#"``."""
    text = str(url or "").strip()
    if _LINE_BREAKS.search(text) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return "#"
    try:
        parts = urlsplit(text)
    except ValueError:
        return "#"
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return "#"
    return text


def oneline(text: object) -> str:
    """``text`` with its line breaks turned into spaces."""
    return _LINE_BREAKS.sub(" ", str(text if text is not None else ""))


def wrap(text: object, first: str = "", rest: str = "", width: int = TEXT_WIDTH) -> str:
    """``text`` on one logical line, wrapped at ``width`` behind the given indents.

    Long words (URLs) are never broken.
    """
    return textwrap.fill(
        " ".join(oneline(text).split()),
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``1 article``, ``3 articles``; ``many`` for irregular plurals (``stories``)."""
    return f"{count:,} {singular if count == 1 else (many or singular + 's')}"


@dataclass(frozen=True)
class FigureRow:
    entity: str
    metric: str
    value: str
    change: str
    period: str
    figure: FigureLine


@dataclass(frozen=True)
class EventGroup:
    type: str
    label: str
    events: list[EventLine]


def _local(moment: datetime, zone: ZoneInfo) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(zone)
    return f"{moment.day} {moment:%b %Y %H:%M}"


def window(digest: Digest) -> str:
    """The digest's window in its own timezone.

    ``24 Nov 2026 07:00 – 25 Nov 2026 07:00 Europe/London``
    """
    zone = ZoneInfo(digest.timezone)
    return f"{_local(digest.start, zone)} – {_local(digest.end, zone)} {digest.timezone}"


def figure_rows(figures: list[FigureLine]) -> list[FigureRow]:
    return [
        FigureRow(
            entity=f.entity or "–",
            metric=f.metric,
            value=format_value(f.value, f.value_max, f.unit, f.currency),
            change=CHANGES.get(f.change, f.change),
            period=f.period or "–",
            figure=f,
        )
        for f in figures
    ]


def event_groups(events: list[EventLine]) -> list[EventGroup]:
    """Events by type, in the order of :data:`EVENT_TYPES`; unknown types last."""
    known = dict(EVENT_TYPES)
    order = [kind for kind, _ in EVENT_TYPES]
    order += sorted({e.type for e in events} - set(known))
    groups = []
    for kind in order:
        members = [e for e in events if e.type == kind]
        if members:
            groups.append(EventGroup(kind, known.get(kind, kind.capitalize()), members))
    return groups


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("delivery", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"),
            default_for_string=True,
            default=False,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_href"] = safe_href
    env.filters["oneline"] = oneline
    env.filters["wrap"] = wrap
    env.filters["plural"] = plural
    return env


def _context(digest: Digest) -> dict[str, Any]:
    return {
        "digest": digest,
        "day": digest.day.isoformat(),
        "window": window(digest),
        "summary": (
            f"{plural(digest.articles, 'article')}, {plural(digest.stories, 'story', 'stories')}"
        ),
        "empty_line": EMPTY_LINE,
        "sections": [
            {
                "section": section,
                "figures": figure_rows(section.figures),
                "events": event_groups(section.events),
            }
            for section in digest.sections
        ],
    }


def render_html(digest: Digest, chart_src: str | None) -> str:
    """The digest as an HTML document with inline styles.

    ``chart_src`` is the ``src`` of the mentions chart (``cid:…`` in an email, a
    ``data:`` URI in a standalone file); without it, or without mention series,
    the page has no chart.
    """
    template = _environment().get_template("digest.html.j2")
    show_chart = bool(chart_src) and bool(digest.mentions) and not digest.empty
    html = template.render(**_context(digest), chart_src=chart_src if show_chart else None)
    return css_inline.inline(html, load_remote_stylesheets=False)


def render_text(digest: Digest) -> str:
    """The digest as plain text, links written out in full."""
    template = _environment().get_template("digest.txt.j2")
    return template.render(**_context(digest))
