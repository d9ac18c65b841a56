"""Delivery stage: the digest rendered as HTML, text, a chart and email messages."""

from __future__ import annotations

import email
import email.policy
import re
import struct
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import pytest

from delivery.chart import mentions_chart
from delivery.message import alert_message, clean_header, digest_message, standalone_html
from delivery.model import (
    Alert,
    Digest,
    EntitySection,
    EventLine,
    FigureLine,
    Link,
    MentionSeries,
    StoryLine,
)
from delivery.render import EMPTY_LINE, oneline, render_html, render_text, safe_href

HOSTILE_TITLE = "<script>alert(1)</script>\r\nBcc: evil@example.com"
HOSTILE_URL = "javascript:alert(1)"
DAY = date(2026, 11, 25)
START = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
END = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
DAYS = [DAY - timedelta(days=13 - i) for i in range(14)]


def link(source: str, slug: str, title: str = "A title") -> Link:
    return Link(source=source, url=f"https://{source.lower()}.example/news/{slug}", title=title)


def figure(
    entity: str | None,
    metric: str,
    value: float,
    *,
    value_max: float | None = None,
    unit: str = "percent",
    currency: str | None = None,
    change: str = "none",
    period: str | None = None,
    source: Link,
) -> FigureLine:
    return FigureLine(
        entity=entity,
        metric=metric,
        value=value,
        value_max=value_max,
        unit=unit,
        currency=currency,
        change=change,
        period=period,
        text="figure text",
        sentence="A sentence holding the figure.",
        link=source,
    )


def story(story_id: int, title: str, links: list[Link]) -> StoryLine:
    return StoryLine(
        story_id=story_id,
        title=title,
        first_at=START + timedelta(hours=story_id),
        outlets=len(links),
        links=links,
    )


def make_digest(*, with_figures: bool = True) -> Digest:
    amazon_links = [link("Reuters", "amzn-1"), link("BBC", "amzn-2"), link("CNBC", "amzn-3")]
    hostile_links = [
        Link(source="Evil <b>Wire</b>", url=HOSTILE_URL, title=HOSTILE_TITLE),
        link("Bloomberg", "hostile"),
    ]
    amazon = EntitySection(
        entity="Amazon",
        articles=9,
        stories=[
            story(1, "Amazon reports record third-quarter sales", amazon_links),
            story(2, HOSTILE_TITLE, hostile_links),
        ],
        figures=(
            [
                figure(
                    "Amazon",
                    "revenue",
                    331e9,
                    unit="currency",
                    currency="USD",
                    change="up",
                    period="Q3 2026",
                    source=amazon_links[0],
                ),
                figure(
                    "Amazon",
                    "growth",
                    137,
                    change="down",
                    source=Link("Sketchy", HOSTILE_URL, "t"),
                ),
            ]
            if with_figures
            else []
        ),
        events=[
            EventLine(
                type="leadership",
                entity="Amazon",
                persons=["Jane Doe", "John Roe"],
                sentence="Amazon named Jane Doe as its new chief financial officer.",
                link=amazon_links[1],
            ),
            EventLine(
                type="layoffs",
                entity="Amazon",
                persons=[],
                sentence="Amazon will cut 2,000 jobs in its devices unit.",
                link=amazon_links[2],
            ),
        ],
    )
    shopee_link = link("TechCrunch", "shopee-1")
    shopee = EntitySection(
        entity="Shopee",
        articles=4,
        stories=[story(3, "Shopee expands into Poland", [shopee_link, link("FT", "shopee-2")])],
        figures=(
            [
                figure(
                    "Shopee",
                    "employees",
                    1500,
                    value_max=2000,
                    unit="employees",
                    change="up",
                    source=shopee_link,
                )
            ]
            if with_figures
            else []
        ),
        events=[
            EventLine(
                type="expansion",
                entity="Shopee",
                persons=[],
                sentence="Shopee opens a warehouse in Poland.",
                link=shopee_link,
            )
        ],
    )
    return Digest(
        day=DAY,
        timezone="Europe/London",
        start=START,
        end=END,
        articles=13,
        stories=3,
        sections=[amazon, shopee],
        chart_days=DAYS,
        mentions=[
            MentionSeries("Amazon", [i % 5 for i in range(14)]),
            MentionSeries("Shopee", [(i * 3) % 4 for i in range(14)]),
        ],
    )


def empty_digest() -> Digest:
    return Digest(
        day=DAY,
        timezone="Europe/London",
        start=START,
        end=END,
        articles=0,
        stories=0,
        sections=[],
    )


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def chart_png() -> bytes:
    digest = make_digest()
    return mentions_chart(digest.chart_days, digest.mentions)


@pytest.mark.fault(17)
def test_html_escapes_hostile_title_and_source() -> None:
    html = render_html(make_digest(), None)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "Evil &lt;b&gt;Wire&lt;/b&gt;" in html
    assert "<b>Wire</b>" not in html


@pytest.mark.fault(17)
def test_html_never_links_to_javascript_urls() -> None:
    links = hrefs(render_html(make_digest(), None))
    assert links, "the digest has links"
    assert not [h for h in links if "javascript" in h.lower()]
    assert "#" in links  # the hostile links are neutralised, not dropped
    assert all(h == "#" or h.startswith("https://") for h in links)
    assert "https://reuters.example/news/amzn-1" in links


def test_safe_href_and_oneline() -> None:
    assert safe_href("https://a.example/x?y=1") == "https://a.example/x?y=1"
    assert safe_href("HTTP://a.example/") == "HTTP://a.example/"
    for bad in (HOSTILE_URL, " JavaScript:alert(1)", "data:text/html,x", "//a.example/", "x", ""):
        assert safe_href(bad) == "#", bad
    assert safe_href("https://a.example/\r\nx") == "#"
    assert oneline("a\r\nb\nc\u2028d") == "a b c d"


def test_html_heading_window_summary_and_footer() -> None:
    html = render_html(make_digest(), None)
    assert "shopwatch digest — 2026-11-25" in html
    # UTC 07:00 is 07:00 in London in winter
    assert "24 Nov 2026 07:00 – 25 Nov 2026 07:00 Europe/London" in html
    assert "13 articles, 3 stories" in html
    assert "Sent by shopwatch" in html
    assert html.index("Amazon") < html.index("Shopee")
    assert "<style" not in html  # the CSS is inlined
    assert 'style="' in html
    assert "max-width: 680px" in html


def test_window_in_the_digest_timezone() -> None:
    digest = make_digest()
    summer = Digest(
        day=date(2026, 7, 1),
        timezone="Europe/Berlin",
        start=datetime(2026, 6, 30, 5, 0, tzinfo=UTC),
        end=datetime(2026, 7, 1, 5, 0, tzinfo=UTC),
        articles=digest.articles,
        stories=digest.stories,
        sections=digest.sections,
    )
    expected = "30 Jun 2026 07:00 – 1 Jul 2026 07:00 Europe/Berlin"
    assert expected in render_html(summer, None)
    assert expected in render_text(summer)


def test_html_values_changes_and_events() -> None:
    html = render_html(make_digest(), None)
    assert "USD 331 billion" in html
    assert "137%" in html
    assert "1,500–2,000 employees" in html
    assert "▲ up" in html
    assert "▼ down" in html
    assert "Q3 2026" in html
    for heading in ("Top stories", "Figures", "Events", "Leadership", "Layoffs", "Expansion"):
        assert heading in html
    assert "Jane Doe, John Roe" in html
    assert "3 outlets" in html
    assert "2 outlets" in html
    assert ">Reuters</a>" in html and ">CNBC</a>" in html


def test_empty_subsections_are_omitted() -> None:
    digest = make_digest(with_figures=False)
    html, text = render_html(digest, None), render_text(digest)
    assert "Figures" not in html
    assert "Figures" not in text
    assert "Top stories" in html and "Events" in html
    assert "<table" in html  # layout tables remain, the figures table does not
    assert "<th>" not in html and ">Metric<" not in html
    # Shopee has no leadership events: that label appears once, for Amazon only
    assert html.count("Leadership") == 1
    assert "Regulation" not in html and "Hiring" not in html


def test_empty_digest_says_one_line() -> None:
    digest = empty_digest()
    html, text = render_html(digest, "cid:x"), render_text(digest)
    for page in (html, text):
        assert EMPTY_LINE in page
        assert "shopwatch digest — 2026-11-25" in page
        assert "Sent by shopwatch" in page
        for absent in ("Top stories", "Figures", "Events", "articles,"):
            assert absent not in page
    assert "<img" not in html
    body = [line for line in text.splitlines() if line.strip()]
    assert body == [
        "shopwatch digest — 2026-11-25",
        "24 Nov 2026 07:00 – 25 Nov 2026 07:00 Europe/London",
        EMPTY_LINE,
        "Sent by shopwatch",
    ]


def test_chart_section_only_with_a_source_and_series() -> None:
    digest = make_digest()
    assert 'src="cid:chart@x"' in render_html(digest, "cid:chart@x")
    assert "<img" not in render_html(digest, None)
    no_series = Digest(
        day=DAY,
        timezone="UTC",
        start=START,
        end=END,
        articles=1,
        stories=1,
        sections=digest.sections[:1],
    )
    assert "<img" not in render_html(no_series, "cid:chart@x")


def test_text_has_full_urls_and_no_forged_lines() -> None:
    text = render_text(make_digest())
    assert "https://reuters.example/news/amzn-1" in text
    assert "https://cnbc.example/news/amzn-3" in text
    assert "https://techcrunch.example/news/shopee-1" in text
    assert "  • Amazon reports record third-quarter sales — 3 outlets\n    https://" in text
    assert "USD 331 billion" in text and "137%" in text
    assert "Jane Doe, John Roe" in text
    assert "&lt;" not in text  # plain text is not HTML-escaped
    assert "<script>alert(1)</script> Bcc: evil@example.com" in text
    assert not [line for line in text.splitlines() if line.startswith("Bcc")]
    assert "\r" not in text
    long_lines = [line for line in text.splitlines() if len(line) > 78 and " " in line.strip()]
    assert not long_lines


def test_clean_header() -> None:
    assert clean_header("  a\r\n b\t\tc \n") == "a b c"
    cut = clean_header("word " * 100, limit=20)
    assert len(cut) == 20 and cut.endswith("…")
    assert "\n" not in cut
    assert clean_header("short", limit=20) == "short"


def parse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_digest_message_structure(chart_png: bytes) -> None:
    digest = make_digest()
    message = digest_message(
        digest, sender="shopwatch@example.com", recipients=["a@example.com"], chart_png=chart_png
    )
    parsed = parse(message)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "multipart/related"]
    assert "https://reuters.example/news/amzn-1" in parts[0].get_content()

    related = list(parts[1].iter_parts())
    assert [p.get_content_type() for p in related] == ["text/html", "image/png"]
    html, image = related
    content_id = image["Content-ID"]
    assert content_id.startswith("<") and content_id.endswith("@shopwatch>")
    assert f'src="cid:{content_id[1:-1]}"' in html.get_content()
    assert image.get_content_disposition() == "inline"
    assert image.get_filename() == "mentions.png"
    assert image.get_content() == chart_png


def test_digest_message_headers_round_trip(chart_png: bytes) -> None:
    digest = make_digest()
    message = digest_message(
        digest,
        sender="shopwatch@example.com",
        recipients=["a@example.com", "b@example.com"],
        chart_png=chart_png,
    )
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"] == clean_header(digest.subject)
    parsed = parse(message)
    assert parsed["Subject"] == "shopwatch digest — 2026-11-25 — 3 stories"
    assert parsed["From"] == "shopwatch@example.com"
    assert parsed["To"] == "a@example.com, b@example.com"
    assert parsed["Message-ID"] == message["Message-ID"]
    assert parsed["Message-ID"].endswith("@shopwatch>")
    assert parsed["Date"].datetime.tzinfo is not None
    assert parsed["Bcc"] is None
    raw = message.as_bytes()
    raw.decode("ascii")  # 7-bit clean: encoded words and quoted-printable bodies
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    # the hostile title is in the bodies, never in the header block
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Bcc" not in head and b"evil@example.com" not in head


def test_digest_message_without_chart() -> None:
    digest = make_digest()
    parsed = parse(
        digest_message(digest, sender="s@example.com", recipients=["a@example.com"], chart_png=None)
    )
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert "<img" not in parts[1].get_content()
    assert "USD 331 billion" in parts[1].get_content()


def test_empty_digest_message() -> None:
    parsed = parse(
        digest_message(
            empty_digest(), sender="s@example.com", recipients=["a@example.com"], chart_png=None
        )
    )
    assert parsed["Subject"] == "shopwatch digest — 2026-11-25 — 0 stories"
    text, html = (p.get_content() for p in parsed.iter_parts())
    assert EMPTY_LINE in text and EMPTY_LINE in html


def test_standalone_html_embeds_the_chart(chart_png: bytes) -> None:
    html = standalone_html(make_digest(), chart_png)
    assert 'src="data:image/png;base64,iVBORw0KGgo' in html
    assert "cid:" not in html
    assert "<img" not in standalone_html(make_digest(), None)


def test_chart_is_a_png_of_the_right_size(chart_png: bytes) -> None:
    width, height = png_size(chart_png)
    assert abs(width - 680) <= 5 and abs(height - 260) <= 5
    assert len(chart_png) > 2000  # lines and labels, not a blank canvas


def test_chart_tolerates_awkward_entity_names() -> None:
    data = mentions_chart(
        DAYS, [MentionSeries("Shop$ $x^2$", [1] * 14), MentionSeries("_x", [0] * 14)]
    )
    assert png_size(data) == (680, 260)
    with pytest.raises(ValueError, match="counts"):
        mentions_chart(DAYS, [MentionSeries("Amazon", [1, 2])])


def test_alert_message_subject_is_one_line() -> None:
    alert = Alert(
        rule="leadership",
        story_id=7,
        article_id=70,
        entity="Amazon",
        title=HOSTILE_TITLE,
        sentence="Amazon named a new chief executive.",
        url="https://reuters.example/news/ceo",
        source="Reuters",
        outlets=2,
        reason="A leadership change at a watched company.",
    )
    message = alert_message(alert, sender="s@example.com", recipients=["a@example.com"])
    assert message.get_content_type() == "text/plain"
    assert message["Subject"] == clean_header(alert.subject)
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    parsed = parse(message)
    assert parsed["Subject"] == (
        "shopwatch alert [leadership] Amazon: <script>alert(1)</script> Bcc: evil@example.com"
    )
    assert parsed["Bcc"] is None
    body = parsed.get_content()
    assert "https://reuters.example/news/ceo" in body
    assert "A leadership change at a watched company." in body
