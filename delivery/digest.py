"""Delivery stage: building a digest, from a time window to a :class:`Digest`.

:func:`window_for` turns ``--date``/``--since`` (or a scheduled time) into a
window; :func:`build_digest` is pure: it groups the window's articles by
watched entity, ranks their stories by the number of outlets, merges figures
and events reported by several copies of one story, and counts mentions per
day for the chart. :func:`make_digest` asks the store and calls it.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from config.model import DigestSettings
from delivery.model import (
    Digest,
    EntitySection,
    EventLine,
    FigureLine,
    Link,
    MentionSeries,
    StoryLine,
)
from shopwatch.errors import UsageError
from storage.articles import as_utc
from storage.digest import (
    StoryMember,
    WindowArticle,
    events_of,
    figures_of,
    mention_times,
    story_members,
    window_articles,
)
from storage.engine import Store
from storage.outbox import digest_sent, enqueue, record_digest
from storage.tables import Delivery, DigestRecord, EventRow, FigureRow

CHART_ENTITIES = 8
PROMINENCE = 0.3


@dataclass(frozen=True)
class Window:
    day: date
    start: datetime
    end: datetime
    timezone: str


def window_for(
    timezone: str, *, now: datetime, day: date | None = None, since: datetime | None = None
) -> Window:
    """The digest window: ``day`` in ``timezone``, or the 24 hours before ``now``.

    ``since`` moves the start back (or forward); the end stays the end of
    ``day``, or ``now``.
    """
    zone = ZoneInfo(timezone)
    if day is not None:
        start = datetime.combine(day, time(0), zone)
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
    else:
        end = now
        start = now - timedelta(hours=24)
        day = now.astimezone(zone).date()
    if since is not None:
        start = since if since.tzinfo else since.replace(tzinfo=zone)
    if start >= end:
        raise UsageError(
            f"the digest window is empty: {start.isoformat()} is not before {end.isoformat()}"
        )
    return Window(day, start.astimezone(UTC), end.astimezone(UTC), timezone)


def scheduled_window(fire_time: datetime, timezone: str) -> Window:
    """The window of a scheduled digest: the 24 hours up to its scheduled time."""
    zone = ZoneInfo(timezone)
    end = fire_time.astimezone(UTC)
    return Window(fire_time.astimezone(zone).date(), end - timedelta(hours=24), end, timezone)


def digest_key(day: date, recipients: Sequence[str]) -> str:
    """One digest per day and recipient list (order and case do not matter)."""
    people = ",".join(sorted({r.strip().lower() for r in recipients}))
    return f"{day.isoformat()}|{hashlib.sha256(people.encode()).hexdigest()[:16]}"


def _link(article: WindowArticle) -> Link:
    return Link(article.source, article.url, article.title)


def _stories(
    articles: Sequence[WindowArticle], members: dict[int, list[StoryMember]], limit: int
) -> list[StoryLine]:
    lines: dict[int, StoryLine] = {}
    latest: dict[int, datetime] = {}
    for article in articles:
        key = article.story_id if article.story_id is not None else -article.id
        latest[key] = max(latest.get(key, article.at), article.at)
        if key in lines:
            continue
        group = members.get(key, [])
        if group:
            links, seen = [], set()
            for m in group:  # one link per outlet, its earliest article
                if m.source not in seen:
                    seen.add(m.source)
                    links.append(Link(m.source, m.url, m.title))
            lines[key] = StoryLine(key, group[0].story_title, group[0].first_at, len(seen), links)
        else:
            lines[key] = StoryLine(key, article.title, article.at, 1, [_link(article)])
    ranked = sorted(lines.values(), key=lambda s: (-s.outlets, -latest[s.story_id].timestamp()))
    return ranked[:limit]


def _figures(
    entity: str, rows: Sequence[FigureRow], by_id: dict[int, WindowArticle], limit: int
) -> tuple[list[FigureLine], int]:
    """The entity's distinct figures, the most restated first (then the newest); and how
    many more there were than ``limit``."""
    firsts: dict[tuple[object, ...], FigureRow] = {}
    stated: Counter[tuple[object, ...]] = Counter()
    for row in rows:
        if row.entity != entity:
            continue
        same = (row.metric, row.value, row.value_max, row.unit, row.currency, row.change)
        stated[same] += 1  # restated by another outlet or another paragraph
        firsts.setdefault(same, row)
    ranked = sorted(
        firsts, key=lambda key: (-stated[key], -by_id[firsts[key].article_id].at.timestamp())
    )
    lines = []
    for key in ranked[:limit]:
        row = firsts[key]
        lines.append(
            FigureLine(
                row.entity,
                row.metric,
                row.value,
                row.value_max,
                row.unit,
                row.currency,
                row.change,
                row.period,
                row.text,
                row.sentence,
                _link(by_id[row.article_id]),
            )
        )
    return lines, max(len(ranked) - limit, 0)


def _events(
    entity: str,
    rows: Sequence[EventRow],
    by_id: dict[int, WindowArticle],
    sizes: dict[int, int],
    limit: int,
) -> tuple[list[EventLine], int]:
    """One line per event type and story, the stories told by the most articles first
    (then the newest); and how many more there were than ``limit``."""
    firsts: dict[tuple[str, int], EventRow] = {}
    for row in rows:
        if row.entity != entity:
            continue
        article = by_id[row.article_id]
        story = article.story_id if article.story_id is not None else -article.id
        firsts.setdefault((row.type, story), row)  # one line per event type and story

    def rank(key: tuple[str, int]) -> tuple[int, float]:
        return (-sizes.get(key[1], 1), -by_id[firsts[key].article_id].at.timestamp())

    ranked = sorted(firsts, key=rank)
    lines = [
        EventLine(
            row.type, row.entity, list(row.persons), row.sentence, _link(by_id[row.article_id])
        )
        for row in (firsts[key] for key in ranked[:limit])
    ]
    return lines, max(len(ranked) - limit, 0)


def _chart(
    window: Window, times: Sequence[tuple[str, datetime]], days: int
) -> tuple[list[date], list[MentionSeries]]:
    zone = ZoneInfo(window.timezone)
    axis = [window.day - timedelta(days=n) for n in range(days - 1, -1, -1)]
    index = {day: i for i, day in enumerate(axis)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    for name, at in times:
        i = index.get(at.astimezone(zone).date())
        if i is not None:
            counts[name][i] += 1
    ranked = sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0]))
    series = [MentionSeries(name, values) for name, values in ranked[:CHART_ENTITIES]]
    return (axis, series) if series else ([], [])


def about(watched: Sequence[tuple[str, int]]) -> list[str]:
    """The watched entities an article is about, leaving out mentions in passing.

    An entity counts when it is mentioned at least ``PROMINENCE`` times as often
    as the article's most mentioned one, and at least twice (the most mentioned
    always counts): a Temu story that names Amazon once for comparison is not an
    Amazon story.
    """
    if not watched:
        return []
    top = max(count for _, count in watched)
    floor = min(top, max(2.0, PROMINENCE * top))
    return [name for name, count in watched if count >= floor]


def build_digest(
    window: Window,
    articles: Sequence[WindowArticle],
    figures: Sequence[FigureRow],
    events: Sequence[EventRow],
    members: Sequence[StoryMember],
    times: Sequence[tuple[str, datetime]],
    *,
    stories_per_entity: int = 5,
    figures_per_entity: int = 10,
    events_per_entity: int = 10,
    chart_days: int = 14,
) -> Digest:
    """Assemble the digest of ``window`` from the store's answers (pure)."""
    by_id = {a.id: a for a in articles}
    grouped: dict[int, list[StoryMember]] = defaultdict(list)
    for member in members:
        grouped[member.story_id].append(member)
    per_entity: dict[str, list[WindowArticle]] = defaultdict(list)
    mentions: Counter[str] = Counter()
    for article in articles:
        for name in about(article.watched):
            per_entity[name].append(article)
        mentions.update(dict(article.watched))
    for entity in [f.entity for f in figures] + [e.entity for e in events]:
        if entity is not None and entity in mentions:  # a figure or event: a section too
            per_entity.setdefault(entity, [])
    ranked = sorted(per_entity, key=lambda name: (-len(per_entity[name]), -mentions[name], name))
    sizes = {story: len(group) for story, group in grouped.items()}
    sections = []
    for name in ranked:
        figure_lines, more_figures = _figures(name, figures, by_id, figures_per_entity)
        event_lines, more_events = _events(name, events, by_id, sizes, events_per_entity)
        sections.append(
            EntitySection(
                entity=name,
                articles=len(per_entity[name]),
                stories=_stories(per_entity[name], grouped, stories_per_entity),
                figures=figure_lines,
                events=event_lines,
                more_figures=more_figures,
                more_events=more_events,
            )
        )
    story_ids = {a.story_id if a.story_id is not None else -a.id for a in articles}
    axis, series = _chart(window, times, chart_days)
    return Digest(
        day=window.day,
        timezone=window.timezone,
        start=window.start,
        end=window.end,
        articles=len(articles),
        stories=len(story_ids),
        sections=sections,
        chart_days=axis,
        mentions=series,
    )


def make_digest(store: Store, settings: DigestSettings, window: Window) -> Digest:
    """Ask the store about ``window`` and build its digest."""
    chart_start = datetime.combine(
        window.day - timedelta(days=settings.chart_days - 1), time(0), ZoneInfo(window.timezone)
    )
    with store.read() as session:
        articles = window_articles(session, window.start, window.end)
        ids = [a.id for a in articles]
        story_ids = sorted({a.story_id for a in articles if a.story_id is not None})
        figures = figures_of(session, ids)
        events = events_of(session, ids)
        members = story_members(session, story_ids)
        times = mention_times(session, chart_start, max(window.end, chart_start))
    return build_digest(
        window,
        articles,
        figures,
        events,
        members,
        times,
        stories_per_entity=settings.stories_per_entity,
        figures_per_entity=settings.figures_per_entity,
        events_per_entity=settings.events_per_entity,
        chart_days=settings.chart_days,
    )


@dataclass(frozen=True)
class Queued:
    """What ``queue_digest`` did: ``queued`` a new delivery, or found it ``already-sent``."""

    status: str
    key: str
    subject: str
    created_at: datetime
    delivery_id: int | None = None


def queue_digest(
    store: Store,
    settings: DigestSettings,
    digest: Digest,
    *,
    force: bool = False,
    now: datetime | None = None,
) -> Queued:
    """Put the digest's email in the outbox, once per day and recipient list (unless ``force``)."""
    from delivery.chart import mentions_chart
    from delivery.message import digest_message

    now = now or datetime.now(UTC)
    if not settings.recipients:
        raise UsageError("no digest recipients: set [digest] recipients in the configuration")
    key = digest_key(digest.day, settings.recipients)
    with store.read() as session:
        earlier = digest_sent(session, key)
    if earlier is not None and not force:
        return Queued("already-sent", key, earlier.subject, as_utc(earlier.created_at) or now)
    chart = mentions_chart(digest.chart_days, digest.mentions) if digest.mentions else None
    message = digest_message(
        digest, sender=settings.sender, recipients=list(settings.recipients), chart_png=chart
    )
    record_key = key if earlier is None else f"{key}|forced-{now.isoformat()}"
    with store.write() as session:
        if digest_sent(session, record_key) is not None:  # another process got there first
            return Queued("already-sent", key, digest.subject, now)
        record = record_digest(
            session,
            DigestRecord(
                key=record_key,
                day=digest.day.isoformat(),
                subject=digest.subject,
                articles=digest.articles,
                stories=digest.stories,
                created_at=now,
            ),
        )
        delivery = enqueue(
            session,
            Delivery(
                key=f"digest:{record_key}",
                kind="digest",
                ref=record.id,
                channel="smtp",
                recipients=list(settings.recipients),
                subject=digest.subject,
                body=digest.subject,
                message=message.as_bytes(),
                next_attempt_at=now,
                created_at=now,
            ),
        )
        delivery_id = delivery.id if delivery else None  # (read before the commit expires it)
    return Queued("queued", key, digest.subject, now, delivery_id)
