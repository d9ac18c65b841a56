"""Fault injection, delivery (guarantee 16): receivers that hang, and what the outbox does then.

A mail server that accepts the connection and never answers (:class:`SilentServer`)
and a webhook that reads the request and never answers (:class:`WebhookSink` with
``hang_next``) must cost one send its configured timeout (``[smtp] timeout``,
``[delivery] timeout``), no more. The message stays in the outbox, is retried
with backoff by a later process, and is delivered exactly once when the
receiver recovers. Refusals (421, 550, a webhook's 500) are proved in
``test_deliver.py`` and ``test_service.py``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import load_settings
from config.model import SmtpSettings
from delivery.alerts import evaluate_alerts
from delivery.send import notify, send_email
from shopwatch.errors import DeliveryError
from storage.engine import open_store
from tests.conftest import CrawledWorld, Service, run_cli, world_config
from tests.servers import SilentServer, SmtpSink, WebhookSink, self_signed_cert, wait_for

MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
# how much later than its timeout an abandoned send may return (a loaded 2-core machine)
SLACK = 2.0
NEVER = 'schedule = "0 3 29 2 *"'  # a crawl group that does not fire during a test


def _query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, args).fetchall())


def _timed(call: object, *args: object, **kwargs: object) -> tuple[float, BaseException | None]:
    """How long ``call`` took, and what it raised."""
    assert callable(call)
    started = time.monotonic()
    try:
        call(*args, **kwargs)
    except Exception as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


# --- SMTP: a server that never answers ------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.mark.fault(16)
@pytest.mark.parametrize(("security", "timeout"), [("none", 0.5), ("starttls", 1.5), ("ssl", 1.0)])
def test_a_silent_mail_server_is_abandoned_within_the_smtp_timeout(
    security: str, timeout: float, cert: tuple[Path, Path]
) -> None:
    with SilentServer(lifetime=30) as silent:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=silent.port,
            security=security,  # type: ignore[arg-type]
            timeout=timeout,
            ca_file=str(cert[0]),
        )
        took, raised = _timed(send_email, settings, None, MESSAGE, "a@x.org", ["b@x.org"])
        assert silent.accepted == 1  # it did connect: the server hangs, it does not refuse
    assert isinstance(raised, DeliveryError), raised
    assert timeout * 0.9 <= took < timeout + SLACK, f"took {took:.1f}s with timeout {timeout}s"
    assert f"no answer within {timeout:g}s" in str(raised)
    assert not raised.permanent  # so the outbox retries it
    assert raised.unanswered


def _mail_config(folder: Path, port: int) -> Path:
    config = folder / "shopwatch.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{folder / "shopwatch.db"}"\n\n'
        '[digest]\nrecipients = ["analyst@example.com"]\nsender = "bot@example.com"\n\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 1\n\n'
        '[delivery]\nretry_base = "1s"\nretry_max = "2s"\nmax_attempts = 4\n',
        encoding="utf-8",
    )
    return config


@pytest.mark.fault(16)
def test_a_digest_to_a_silent_mail_server_is_delivered_once_when_it_comes_back(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shopwatch.db"
    open_store(f"sqlite:///{db}").close()
    with SilentServer(lifetime=60) as silent:
        config = _mail_config(tmp_path, silent.port)
        hung = run_cli("digest", "--date", "2026-11-13", "--send", config=config, timeout=60)
        assert silent.accepted == 1
    assert hung.code == 1, hung.err
    assert "no answer within 1s" in hung.err and "kept in the outbox" in hung.err
    assert "Traceback" not in hung.err
    rows = _query(db, "SELECT status, attempts, last_error FROM deliveries")
    assert len(rows) == 1 and rows[0][:2] == ("pending", 1), rows
    assert "no answer within 1s" in str(rows[0][2])
    # the mail server comes back on the same port; a new process sends what the outbox kept
    with SmtpSink(port=silent.port) as smtp:
        time.sleep(1.2)  # the first backoff is 1 s
        flushed = run_cli("outbox", "--flush", "--format", "json", config=config)
        assert flushed.code == 0, flushed.err
        assert flushed.json()["counts"] == {"pending": 0, "sending": 0, "sent": 1, "failed": 0}
        assert len(smtp.messages) == 1 and smtp.handler.attempts == 1
        subject = str(smtp.messages[0].message["Subject"])
        assert subject.startswith("shopwatch digest — 2026-11-13")
    assert _query(db, "SELECT status, attempts FROM deliveries") == [("sent", 2)]


# --- webhooks: a receiver that reads the request and never answers ---------------------------


@pytest.mark.fault(16)
@pytest.mark.parametrize("timeout", [0.5, 1.5])
def test_a_hanging_webhook_is_abandoned_within_the_delivery_timeout(timeout: float) -> None:
    with WebhookSink(hang_seconds=30) as hook:
        hook.hang_next = 1
        took, raised = _timed(notify, hook.url(), "title", "body", timeout=timeout)
        assert hook.attempts == 1 and hook.posts == []
        assert isinstance(raised, DeliveryError), raised
        assert timeout * 0.9 <= took < timeout + SLACK, f"took {took:.1f}s with timeout {timeout}s"
        assert f"no answer within {timeout:g}s" in str(raised)
        assert raised.unanswered and not raised.permanent
        # it answers again: the same call is delivered, once
        assert notify(hook.url(), "title", "body", timeout=timeout) is None
        assert [p["title"] for p in hook.posts] == ["title"] and hook.attempts == 2


@pytest.mark.fault(16)
def test_a_channel_url_that_sets_its_own_read_timeout_keeps_it() -> None:
    with WebhookSink(hang_seconds=30) as hook:
        hook.hang_next = 1
        took, raised = _timed(notify, hook.url() + "?rto=0.5", "t", "b", timeout=20)
    assert isinstance(raised, DeliveryError), raised
    assert took < 0.5 + SLACK, f"took {took:.1f}s: the URL's rto=0.5 was not used"


def _alerts_toml(hung: WebhookSink, healthy: WebhookSink) -> str:
    return f"""
[delivery]
alert_max_age = "3650d"
retry_base = "1s"
retry_max = "2s"
max_attempts = 6
timeout = 1

[[alerts]]
name = "rival-moves"
entities = ["Temu", "Shein"]
events = ["leadership", "layoffs"]
channels = ["{hung.url("rivals")}"]

[[alerts]]
name = "tiktok-leadership"
entities = ["TikTok Shop"]
events = ["leadership"]
channels = ["{healthy.url("tiktok")}"]
"""


def _copy_store(crawled: CrawledWorld, folder: Path) -> Path:
    """A copy of the crawled (and enriched) news world's store in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "shopwatch.db"
    with (
        sqlite3.connect(crawled.config.parent / "shopwatch.db") as source,
        sqlite3.connect(db) as copy,
    ):
        source.backup(copy)
    return db


@pytest.fixture
def hooks() -> Iterator[tuple[WebhookSink, WebhookSink]]:
    with WebhookSink(hang_seconds=30) as hung, WebhookSink() as healthy:
        yield hung, healthy


@pytest.mark.fault(16)
def test_alerts_to_a_hung_webhook_wait_for_it_without_holding_up_others_and_arrive_once(
    crawled: CrawledWorld, hooks: tuple[WebhookSink, WebhookSink], tmp_path: Path
) -> None:
    hung, healthy = hooks
    db = _copy_store(crawled, tmp_path)
    config = world_config(crawled.world, tmp_path, _alerts_toml(hung, healthy))
    hung.hang_next = 1000  # every request to it hangs until told otherwise
    first = run_cli("alerts", "--format", "json", config=config, timeout=120)
    assert first.code == 0, first.err
    fired = first.json()
    rivals = sum(1 for a in fired if a["rule"] == "rival-moves")
    tiktok = sum(1 for a in fired if a["rule"] == "tiktok-leadership")
    assert rivals >= 3 and tiktok >= 2, fired
    # one request hung for the timeout; the hung receiver's other alerts were not tried
    # (each would have cost another timeout); the healthy receiver got all of its own
    assert hung.attempts == 1, f"{hung.attempts} requests to a receiver that never answers"
    assert f"1 to retry, 0 failed, {rivals - 1} deferred" in first.err
    assert hung.posts == []
    assert len(healthy.posts) == tiktok
    pending = _query(db, "SELECT attempts, last_error FROM deliveries WHERE status = 'pending'")
    assert sorted(int(str(a)) for a, _ in pending) == [0] * (rivals - 1) + [1]
    assert any("no answer within 1s" in str(e) for _, e in pending)
    # the receiver recovers; a new process delivers each kept alert exactly once
    hung.hang_next = 0
    time.sleep(1.2)  # the first backoff is 1 s
    flushed = run_cli("outbox", "--flush", "--format", "json", config=config)
    assert flushed.code == 0, flushed.err
    assert flushed.json()["counts"] == {
        "pending": 0,
        "sending": 0,
        "sent": rivals + tiktok,
        "failed": 0,
    }
    titles = [p["title"] for p in hung.posts]
    assert len(titles) == rivals == len(set(titles)), titles
    assert all("[rival-moves]" in t for t in titles)
    assert hung.attempts == 1 + rivals
    assert len(healthy.posts) == tiktok  # nothing sent twice


# --- the service stopped while a send hangs ---------------------------------------------------


@pytest.mark.fault(16)
def test_a_service_stopped_while_a_webhook_hangs_keeps_it_for_the_next_process(
    crawled: CrawledWorld,
    hooks: tuple[WebhookSink, WebhookSink],
    tmp_path: Path,
    services: list[Service],
) -> None:
    hung, healthy = hooks
    db = _copy_store(crawled, tmp_path)
    extra = (
        _alerts_toml(hung, healthy)
        + '\n[scheduler]\nstop_timeout = "30s"\nlock_timeout = "20s"\noutbox_every = "1s"\n\n'
        f'[[schedules]]\nname = "news"\n{NEVER}\n'
    )
    config = world_config(crawled.world, tmp_path, extra)
    hung.hang_next = 1000
    # the alerts fire and wait in the outbox (here, in this process: no send yet)
    settings = load_settings(config, required=True)
    store = open_store(settings.store.url)
    try:
        fired = evaluate_alerts(store, settings).fired
    finally:
        store.close()
    kept = sum(1 for a in fired if a.rule == "rival-moves")
    assert kept >= 3
    first = Service(config, tmp_path / "first.log")
    services.append(first)
    first.wait_started()
    wait_for(lambda: hung.attempts >= 2, 30, "the service to try the hung receiver")
    stopping = time.monotonic()
    code = first.stop(60)  # SIGTERM while that send hangs
    took = time.monotonic() - stopping
    assert code == 0, first.log
    assert took < 1 + 10, f"the service took {took:.1f}s to stop"
    assert "scheduler stopped" in first.log
    statuses = _query(db, "SELECT status, count(*) FROM deliveries GROUP BY status")
    assert dict(statuses).get("sending", 0) == 0, statuses  # nothing left claimed
    assert dict(statuses)["pending"] == kept and hung.posts == []  # (the others were sent)
    # the receiver answers again: a new process delivers each kept alert, once
    hung.hang_next = 0
    time.sleep(1.2)  # the first backoff is 1 s
    flushed = run_cli("outbox", "--flush", "--format", "json", config=config)
    assert flushed.code == 0, flushed.err
    counts = flushed.json()["counts"]
    assert counts["sent"] == len(fired), counts
    assert len(healthy.posts) == len(fired) - kept  # the healthy receiver's, once each
    assert counts["pending"] == counts["sending"] == counts["failed"] == 0, counts
    titles = [p["title"] for p in hung.posts]
    assert len(titles) == kept == len(set(titles)), titles
