"""Digests and alerts delivered for real: an SMTP server and a webhook receiver on loopback.

The news world is crawled once; each test works on its own copy of that store,
runs the real ``shopwatch`` commands and asserts on what the servers received.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsworld import NewsWorld
from newsworld.world import articles
from tests.conftest import run_cli, world_config
from tests.servers import SmtpSink, WebhookSink

RECIPIENTS = ["analyst@example.com", "lead@example.com"]


def delivery_toml(smtp: SmtpSink, hook: WebhookSink) -> str:
    return f"""
[digest]
recipients = {RECIPIENTS!r}
sender = "shopwatch@example.com"
timezone = "Europe/London"

[smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
timeout = 5

[delivery]
alert_max_age = "3650d"
retry_base = "1s"
retry_max = "2s"
max_attempts = 4

[[alerts]]
name = "rival-moves"
entities = ["Temu", "Shein"]
events = ["leadership", "layoffs"]
channels = ["{hook.url("rivals")}"]

[[alerts]]
name = "tiktok-leadership"
entities = ["TikTok Shop"]
events = ["leadership"]
channels = ["{hook.url("tiktok")}"]
""".replace("'", '"')


@dataclass
class Delivered:
    config: Path
    db: Path
    smtp: SmtpSink
    hook: WebhookSink


@pytest.fixture(scope="module")
def sinks() -> Iterator[tuple[SmtpSink, WebhookSink]]:
    with SmtpSink() as smtp, WebhookSink() as hook:
        yield smtp, hook


@pytest.fixture(scope="module")
def crawled_db(
    world: NewsWorld, sinks: tuple[SmtpSink, WebhookSink], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    folder = tmp_path_factory.mktemp("delivered")
    config = world_config(world, folder, delivery_toml(*sinks))
    result = run_cli("crawl", "--json", config=config)
    assert result.code == 0, result.err
    return folder / "shopwatch.db"


@pytest.fixture
def delivered(
    world: NewsWorld, sinks: tuple[SmtpSink, WebhookSink], crawled_db: Path, tmp_path: Path
) -> Delivered:
    """A fresh copy of the crawled store, and sinks that have received nothing."""
    smtp, hook = sinks
    db = tmp_path / "shopwatch.db"
    with sqlite3.connect(crawled_db) as source, sqlite3.connect(db) as copy:
        source.backup(copy)
    smtp.messages.clear()
    smtp.handler.refuse_next = smtp.handler.attempts = 0
    hook.posts.clear()
    hook.fail_next = hook.hang_next = hook.attempts = 0
    return Delivered(world_config(world, tmp_path, delivery_toml(smtp, hook)), db, smtp, hook)


def _query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, args).fetchall())


# --- digest ------------------------------------------------------------------------------


def test_digest_email_has_both_parts_sections_figures_and_chart(delivered: Delivered) -> None:
    result = run_cli("digest", "--date", "2026-11-13", "--send", config=delivered.config)
    assert result.code == 0, result.err
    assert "1 sent" in result.err
    assert len(delivered.smtp.messages) == 1
    received = delivered.smtp.messages[0]
    assert sorted(received.recipients) == sorted(RECIPIENTS)
    assert received.sender == "shopwatch@example.com"
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    subject = str(message["Subject"])
    assert subject.startswith("shopwatch digest — 2026-11-13 — ")
    assert subject.endswith(("story", "stories"))
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    plain, page = text.get_content(), html.get_content()
    # Temu's record sale was reported by two outlets: one story line, "2 outlets"
    assert "Temu" in plain and "2 outlets" in plain
    assert "17.5 billion" in plain and "GMV" in plain
    assert "Temu" in page and "17.5 billion" in page and "GMV" in page
    assert 'style="' in page  # CSS inlined for mail clients
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    png = images[0].get_content()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    cid = str(images[0]["Content-ID"]).strip("<>")
    assert f"cid:{cid}" in page


def test_digest_is_sent_once_per_day_unless_forced(delivered: Delivered) -> None:
    first = run_cli("digest", "--date", "2026-11-13", "--send", config=delivered.config)
    assert first.code == 0, first.err
    again = run_cli("digest", "--date", "2026-11-13", "--send", config=delivered.config)
    assert again.code == 0, again.err
    assert "already" in again.err and "nothing sent" in again.err
    assert len(delivered.smtp.messages) == 1
    forced = run_cli("digest", "--date", "2026-11-13", "--send", "--force", config=delivered.config)
    assert forced.code == 0, forced.err
    assert len(delivered.smtp.messages) == 2
    other_day = run_cli("digest", "--date", "2026-11-20", "--send", config=delivered.config)
    assert other_day.code == 0, other_day.err
    assert len(delivered.smtp.messages) == 3
    assert "2026-11-20" in str(delivered.smtp.messages[2].message["Subject"])


@pytest.mark.fault(16)
def test_refused_digest_is_kept_and_delivered_once_on_retry(delivered: Delivered) -> None:
    delivered.smtp.refuse(1)
    result = run_cli("digest", "--date", "2026-11-13", "--send", config=delivered.config)
    assert result.code == 1
    assert "421" in result.err and "outbox" in result.err
    assert delivered.smtp.messages == []
    rows = _query(delivered.db, "SELECT status, attempts, last_error FROM deliveries")
    assert len(rows) == 1 and rows[0][:2] == ("pending", 1) and "421" in str(rows[0][2])
    time.sleep(1.2)  # the configured first backoff is 1 s
    flushed = run_cli("outbox", "--flush", "--format", "json", config=delivered.config)
    assert flushed.code == 0, flushed.err
    assert flushed.json()["counts"] == {"pending": 0, "sending": 0, "sent": 1, "failed": 0}
    assert len(delivered.smtp.messages) == 1
    assert delivered.smtp.handler.attempts == 2
    # a second flush has nothing left to send
    run_cli("outbox", "--flush", config=delivered.config)
    assert len(delivered.smtp.messages) == 1


@pytest.mark.fault(16)
def test_a_refused_recipient_is_recorded_and_the_others_get_it_once(delivered: Delivered) -> None:
    delivered.smtp.handler.refuse_recipients = {"lead@example.com"}
    try:
        result = run_cli("digest", "--date", "2026-11-13", "--send", config=delivered.config)
        assert result.code == 1 and "lead@example.com (550" in result.err
        assert [m.recipients for m in delivered.smtp.messages] == [["analyst@example.com"]]
        rows = _query(delivered.db, "SELECT status, attempts, last_error FROM deliveries")
        assert rows[0][:2] == ("sent", 1) and "lead@example.com" in str(rows[0][2])
        # every recipient refused for good: failed after one attempt, never retried
        delivered.smtp.handler.refuse_recipients = set(RECIPIENTS)
        forced = run_cli(
            "digest", "--date", "2026-11-13", "--send", "--force", config=delivered.config
        )
        assert forced.code == 1 and "refused every recipient" in forced.err
        rows = _query(delivered.db, "SELECT status, attempts FROM deliveries ORDER BY id")
        assert rows == [("sent", 1), ("failed", 1)]
        assert len(delivered.smtp.messages) == 1
    finally:
        delivered.smtp.handler.refuse_recipients = set()


def test_digest_out_writes_html_and_eml(delivered: Delivered, tmp_path: Path) -> None:
    html, eml = tmp_path / "d.html", tmp_path / "d.eml"
    for out in (html, eml):
        result = run_cli(
            "digest", "--date", "2026-11-13", "--out", str(out), config=delivered.config
        )
        assert result.code == 0, result.err
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert (
        eml.read_bytes().startswith(b"From: ")
        or b"\r\nSubject: shopwatch digest" in eml.read_bytes()
    )
    assert delivered.smtp.messages == []  # writing is not sending
    bad = run_cli("digest", "--out", str(tmp_path / "d.pdf"), config=delivered.config)
    assert bad.code == 2 and ".html" in bad.err


def test_a_day_with_nothing_says_so(delivered: Delivered) -> None:
    result = run_cli("digest", "--date", "2026-01-01", config=delivered.config)
    assert result.code == 0, result.err
    assert "Nothing was published" in result.out


# --- alerts ------------------------------------------------------------------------------


def _expected_stories(db: Path, entities: tuple[str, ...], types: tuple[str, ...]) -> set[int]:
    marks = ",".join("?" * len(entities))
    kinds = ",".join("?" * len(types))
    rows = _query(
        db,
        f"SELECT DISTINCT coalesce(s.story_id, -e.article_id) FROM events e "
        f"LEFT JOIN article_stories s ON s.article_id = e.article_id "
        f"WHERE e.entity IN ({marks}) AND e.type IN ({kinds})",
        *entities,
        *types,
    )
    return {int(r[0]) for r in rows}  # type: ignore[call-overload]


def test_each_alert_is_received_exactly_once_across_runs(delivered: Delivered) -> None:
    first = run_cli("alerts", "--format", "json", config=delivered.config)
    assert first.code == 0, first.err
    fired = first.json()
    rivals = _expected_stories(delivered.db, ("Temu", "Shein"), ("leadership", "layoffs"))
    tiktok = _expected_stories(delivered.db, ("TikTok Shop",), ("leadership",))
    assert len(rivals) >= 3 and len(tiktok) >= 2
    by_rule = {
        rule: {a["story_id"] for a in fired if a["rule"] == rule}
        for rule in ("rival-moves", "tiktok-leadership")
    }
    assert by_rule == {"rival-moves": rivals, "tiktok-leadership": tiktok}
    assert len(delivered.hook.posts) == len(rivals) + len(tiktok)
    titles = [p["title"] for p in delivered.hook.posts]
    assert len(titles) == len(set(titles)), "a story alerted twice"
    # the Okafor story: Shop Signal, Retail Daily and Market Wire's syndicated copy of the
    # Retail Daily piece; one alert that names the rule, entity, outlets and link
    okafor = [p for p in delivered.hook.posts if "Okafor" in p["title"]]
    assert len(okafor) == 1
    assert "[tiktok-leadership]" in okafor[0]["title"] and "TikTok Shop" in okafor[0]["title"]
    assert "3 outlets" in okafor[0]["message"] and "http://127.0.0.1" in okafor[0]["message"]
    # a second evaluation, and a re-crawl (syndicated copies included), fire nothing new
    again = run_cli("alerts", "--format", "json", config=delivered.config)
    assert again.code == 0 and again.json() == []
    assert run_cli("crawl", "--json", config=delivered.config).code == 0
    assert run_cli("alerts", "--format", "json", config=delivered.config).json() == []
    assert len(delivered.hook.posts) == len(rivals) + len(tiktok)
    history = run_cli("alerts", "--history", "--format", "json", config=delivered.config).json()
    assert len(history) == len(rivals) + len(tiktok)
    assert all(h["deliveries"][0]["status"] == "sent" for h in history)
    assert all("127.0.0.1" in h["deliveries"][0]["channel"] for h in history)


def test_dry_run_records_and_sends_nothing(delivered: Delivered) -> None:
    dry = run_cli("alerts", "--dry-run", "--format", "json", config=delivered.config)
    assert dry.code == 0, dry.err
    assert dry.json() and delivered.hook.posts == []
    assert _query(delivered.db, "SELECT count(*) FROM alerts") == [(0,)]
    real = run_cli("alerts", "--format", "json", config=delivered.config)
    assert len(real.json()) == len(dry.json()) == len(delivered.hook.posts)


@pytest.mark.fault(16)
def test_failed_webhook_is_retried_then_delivered_once(delivered: Delivered) -> None:
    delivered.hook.fail_next = 2
    first = run_cli("alerts", config=delivered.config)
    assert first.code == 0, first.err
    assert "2 to retry" in first.err
    expected = _query(delivered.db, "SELECT count(*) FROM deliveries")[0][0]
    assert len(delivered.hook.posts) == int(expected) - 2  # type: ignore[call-overload]
    time.sleep(1.2)
    flushed = run_cli("outbox", "--flush", "--format", "json", config=delivered.config)
    assert flushed.json()["counts"]["sent"] == expected
    assert len(delivered.hook.posts) == expected
    assert len({p["title"] for p in delivered.hook.posts}) == expected


# --- hostile content ---------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script> Temu <img src=x onerror=alert(1)>\r\nBcc: evil@example.com'


@pytest.mark.fault(17)
def test_hostile_title_is_escaped_and_cannot_add_headers(
    sinks: tuple[SmtpSink, WebhookSink], tmp_path: Path
) -> None:
    smtp, hook = sinks
    smtp.messages.clear()
    with NewsWorld() as own:
        slug = "temu-singles-day-gmv"  # the first of its story: its title is the story's
        target = next((a for a in articles() if a["slug"] == slug), None)
        assert target is not None
        own.edit_article(slug, title=HOSTILE)
        config = world_config(own, tmp_path, delivery_toml(smtp, hook))
        assert run_cli("crawl", "--json", config=config).code == 0
    stored = _query(
        tmp_path / "shopwatch.db", "SELECT title FROM articles WHERE title LIKE '%script%'"
    )
    assert stored, "the hostile title was not stored as text"
    day = str(target["published"])[:10]
    out = tmp_path / "hostile.html"
    result = run_cli("digest", "--date", day, "--out", str(out), "--send", config=config)
    assert result.code == 0, result.err
    page = out.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    assert len(smtp.messages) == 1
    raw = smtp.messages[0].raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"evil@example.com" not in head and b"\nBcc" not in head
    assert smtp.messages[0].message["Bcc"] is None
    html = smtp.messages[0].message.get_body(("html",))
    assert html is not None and "<script>alert" not in html.get_content()


def test_run_and_schedules_are_documented_and_listed(delivered: Delivered) -> None:
    listed = run_cli("schedules", "--format", "json", config=delivered.config)
    assert listed.code == 0, listed.err
    jobs = {job["job"]: job for job in listed.json()}
    assert set(jobs) == {"crawl:all", "digest", "outbox", "optimize"}
    assert jobs["digest"]["when"] == "cron 0 7 * * * (Europe/London)"
    assert jobs["crawl:all"]["sources"] == ["retail-daily", "market-wire", "shop-signal"]
    next_digest = datetime.fromisoformat(jobs["digest"]["next_run"])
    assert next_digest > datetime.now(UTC)
    assert next_digest.astimezone(UTC).minute == 0
