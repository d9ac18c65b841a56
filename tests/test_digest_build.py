"""Building a digest from the store's answers (pure): sections, stories, figures, the chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from delivery.digest import about, build_digest, digest_key, scheduled_window, window_for
from delivery.render import render_html, render_text
from shopwatch.errors import UsageError
from storage.digest import StoryMember, WindowArticle
from storage.tables import EventRow, FigureRow

AT = datetime(2026, 11, 13, 9, 0, tzinfo=UTC)
WINDOW = window_for("UTC", now=AT, day=date(2026, 11, 13))


def article(
    article_id: int, source: str, watched: dict[str, int], story: int | None = None
) -> WindowArticle:
    return WindowArticle(
        id=article_id,
        source=source,
        url=f"https://{source}.example/{article_id}",
        title=f"Title {article_id}",
        at=AT + timedelta(minutes=article_id),
        story_id=story,
        watched=tuple(sorted(watched.items())),
    )


def fig(article_id: int, entity: str | None, value: float, change: str = "up") -> FigureRow:
    return FigureRow(
        article_id=article_id,
        value=value,
        unit="currency",
        currency="USD",
        metric="GMV",
        change=change,
        entity=entity,
        text=f"${value:g}",
        sentence="s",
        start=0,
        end=1,
    )


def test_mentions_in_passing_do_not_make_a_section() -> None:
    assert about([("Amazon", 2), ("PDD Holdings", 3), ("Shein", 2), ("Temu", 13)]) == ["Temu"]
    assert about([("PDD Holdings", 4), ("Temu", 9)]) == ["PDD Holdings", "Temu"]
    assert about([("Shein", 1), ("Temu", 1)]) == ["Shein", "Temu"]  # no clear lead: both
    assert about([]) == []


def test_sections_stories_and_figures() -> None:
    articles = [
        article(1, "retail-daily", {"Temu": 9, "Amazon": 1}, story=7),
        article(2, "shop-signal", {"Temu": 12, "Amazon": 2}, story=7),
        article(3, "shop-signal", {"Shein": 5}),
        article(4, "market-wire", {"Amazon": 6}),
    ]
    members = [
        StoryMember(7, "Temu GMV", AT, "retail-daily", articles[0].url, "Title 1", AT),
        StoryMember(7, "Temu GMV", AT, "shop-signal", articles[1].url, "Title 2", AT),
    ]
    figures = [fig(1, "Temu", 17.5e9), fig(2, "Temu", 17.5e9), fig(2, "Amazon", 1e9)]
    events = [
        EventRow(
            article_id=3,
            type="layoffs",
            entity="Shein",
            trigger="cut",
            sentence="s",
            start=0,
            end=1,
        ),
    ]
    digest = build_digest(WINDOW, articles, figures, events, members, [])
    assert [s.entity for s in digest.sections] == ["Temu", "Amazon", "Shein"]
    temu, amazon, shein = digest.sections
    assert temu.articles == 2 and len(temu.stories) == 1
    story = temu.stories[0]
    assert story.outlets == 2 and [link.source for link in story.links] == [
        "retail-daily",
        "shop-signal",
    ]
    assert len(temu.figures) == 1  # the same figure from two outlets is one line
    assert amazon.articles == 1 and [f.value for f in amazon.figures] == [1e9]
    assert [e.type for e in shein.events] == ["layoffs"]
    assert digest.articles == 4 and digest.stories == 3
    assert digest.subject == "shopwatch digest — 2026-11-13 — 3 stories"


def test_an_empty_window_is_empty() -> None:
    digest = build_digest(WINDOW, [], [], [], [], [])
    assert digest.empty and digest.mentions == [] and digest.stories == 0


def test_chart_counts_per_day_in_the_digest_zone() -> None:
    times = [("Temu", AT), ("Temu", AT - timedelta(days=1)), ("Shein", AT - timedelta(days=20))]
    digest = build_digest(WINDOW, [], [], [], [], times, chart_days=14)
    assert len(digest.chart_days) == 14 and digest.chart_days[-1] == date(2026, 11, 13)
    assert [(m.entity, m.counts[-2:]) for m in digest.mentions] == [("Temu", [1, 1])]


def test_windows() -> None:
    london = window_for("Europe/London", now=AT, day=date(2026, 7, 1))
    assert london.start == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)  # BST
    assert london.end - london.start == timedelta(hours=24)
    last_day = window_for("UTC", now=AT)
    assert (last_day.start, last_day.end) == (AT - timedelta(hours=24), AT)
    since = window_for("UTC", now=AT, day=date(2026, 11, 13), since=datetime(2026, 11, 10))
    assert since.start == datetime(2026, 11, 10, tzinfo=UTC)
    assert since.end == datetime(2026, 11, 14, tzinfo=UTC)
    with pytest.raises(UsageError, match="empty"):
        window_for("UTC", now=AT, day=date(2026, 11, 13), since=datetime(2026, 11, 20))
    scheduled = scheduled_window(datetime(2026, 11, 14, 7, 0, tzinfo=UTC), "Asia/Tokyo")
    assert scheduled.day == date(2026, 11, 14) and scheduled.end - scheduled.start == timedelta(
        hours=24
    )


def test_digest_key_ignores_order_and_case_of_recipients() -> None:
    day = date(2026, 11, 13)
    assert digest_key(day, ["B@x.org", "a@x.org"]) == digest_key(day, ["a@x.org", "b@x.org "])
    assert digest_key(day, ["a@x.org"]) != digest_key(day, ["a@x.org", "b@x.org"])
    assert digest_key(day, ["a@x.org"]) != digest_key(day + timedelta(days=1), ["a@x.org"])


def test_a_section_lists_its_most_restated_figures_and_biggest_stories_and_says_how_many_more() -> (
    None
):
    articles = [article(n, f"outlet-{n % 4}", {"Temu": 5}, story=n // 3) for n in range(1, 31)]
    # figure values 1..14 once each, and 99 stated by five articles: it comes first
    figures = [fig(n, "Temu", float(n)) for n in range(1, 15)]
    figures += [fig(n, "Temu", 99.0) for n in (20, 21, 22, 23, 24)]
    events = [
        EventRow(
            article_id=n,
            type="launch",
            entity="Temu",
            trigger="t",
            sentence=f"s{n}",
            start=0,
            end=1,
        )
        for n in range(1, 31)
    ]
    # story 9 (articles 27-29) has three members, the others one each in this list
    members = [
        StoryMember(9, "Big", AT, f"outlet-{n % 4}", f"https://x.example/{n}", f"T{n}", AT)
        for n in (27, 28, 29)
    ]
    digest = build_digest(
        WINDOW, articles, figures, events, members, [], figures_per_entity=4, events_per_entity=3
    )
    (temu,) = digest.sections
    assert temu.figures[0].value == 99.0  # the most restated first
    assert [f.value for f in temu.figures][1:] == [14.0, 13.0, 12.0]  # then the newest
    assert temu.more_figures == 15 - 4
    assert temu.events[0].link.url.endswith("/27")  # the story told by three articles first
    assert len(temu.events) == 3
    stories = {a.story_id for a in articles}
    assert temu.more_events == len(stories) - 3  # one line per event type and story
    text = render_text(digest)
    assert 'and 11 more figures in the window: shopwatch figures --entity "Temu"' in text
    assert f"and {len(stories) - 3} more events in the window" in text
    html = render_html(digest, None)
    assert "and 11 more figures in the window" in html
    assert html.count('<td class="num"') == 4


def test_a_section_within_its_caps_says_nothing_more() -> None:
    articles = [article(1, "a", {"Temu": 5})]
    digest = build_digest(WINDOW, articles, [fig(1, "Temu", 3.0)], [], [], [])
    (temu,) = digest.sections
    assert temu.more_figures == 0 and temu.more_events == 0
    assert "more figures" not in render_text(digest)
