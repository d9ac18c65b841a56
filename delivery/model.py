"""Delivery stage: the values a digest and an alert are made of.

:mod:`delivery.digest` builds a :class:`Digest` from the store's answers;
:mod:`delivery.render` turns it into HTML and plain text, :mod:`delivery.chart`
into a PNG and :mod:`delivery.message` into an email. Everything here is plain
data: article titles, sentences and URLs are untrusted text from the web and
are escaped by whoever shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Link:
    source: str
    url: str
    title: str


@dataclass(frozen=True)
class StoryLine:
    """One story: its title, how many outlets reported it, and their links (earliest first)."""

    story_id: int
    title: str
    first_at: datetime
    outlets: int
    links: list[Link]


@dataclass(frozen=True)
class FigureLine:
    entity: str | None
    metric: str
    value: float
    value_max: float | None
    unit: str
    currency: str | None
    change: str
    period: str | None
    text: str
    sentence: str
    link: Link


@dataclass(frozen=True)
class EventLine:
    type: str
    entity: str | None
    persons: list[str]
    sentence: str
    link: Link


@dataclass(frozen=True)
class EntitySection:
    """Everything the window holds about one watched entity."""

    entity: str
    articles: int
    stories: list[StoryLine]
    figures: list[FigureLine]
    events: list[EventLine]
    more_figures: int = 0  # distinct figures beyond [digest] figures_per_entity
    more_events: int = 0  # event lines beyond [digest] events_per_entity


@dataclass(frozen=True)
class MentionSeries:
    """Articles mentioning ``entity`` per day (oldest first), one count per day of ``days``."""

    entity: str
    counts: list[int]


@dataclass(frozen=True)
class Digest:
    day: date
    timezone: str
    start: datetime
    end: datetime
    articles: int
    stories: int
    sections: list[EntitySection]
    chart_days: list[date] = field(default_factory=list)
    mentions: list[MentionSeries] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.sections

    @property
    def subject(self) -> str:
        count = f"{self.stories} stor{'y' if self.stories == 1 else 'ies'}"
        return f"shopwatch digest — {self.day.isoformat()} — {count}"


@dataclass(frozen=True)
class Alert:
    """One rule firing for one story."""

    rule: str
    story_id: int
    article_id: int
    entity: str | None
    title: str
    sentence: str
    url: str
    source: str
    outlets: int
    reason: str

    @property
    def subject(self) -> str:
        about = f"{self.entity}: " if self.entity else ""
        return f"shopwatch alert [{self.rule}] {about}{self.title}"

    @property
    def body(self) -> str:
        outlets = f"{self.outlets} outlet{'s' if self.outlets != 1 else ''}"
        return (
            f"{self.reason}\n\n“{self.sentence}”\n\n"
            f"{self.title} ({self.source}, {outlets})\n{self.url}"
        )


def _number(value: float) -> str:
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if abs(value) >= scale:
            return f"{value / scale:,.3g} {word}".replace(".0 ", " ")
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def format_value(value: float, value_max: float | None, unit: str, currency: str | None) -> str:
    """A figure as a reader writes it: ``USD 331 billion``, ``137%``, ``2,000 employees``."""
    text = _number(value)
    if value_max is not None:
        text += "–" + _number(value_max)
    if unit == "percent":
        return text + "%"
    if unit == "currency":
        return f"{currency or ''} {text}".strip()
    return f"{text} {unit}"
