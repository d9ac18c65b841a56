"""``shopwatch run`` for real: single instance, missed digests, crawls that never overlap, SIGTERM.

Each test starts the service as a child process with short schedules and
watches what it does through the store, its log and the loopback servers; no
test sleeps for minutes.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsworld import NewsWorld
from storage.engine import open_store
from tests.conftest import Service, run_cli, world_config
from tests.servers import SmtpSink, WebhookSink, wait_for

NEVER = 'schedule = "0 3 29 2 *"'  # a crawl group that does not fire during a test


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql).fetchall())


def _cron_at(moment: datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def _config(
    world: NewsWorld,
    folder: Path,
    smtp: SmtpSink,
    *,
    digest_at: datetime | None,
    crawl: str,
    grace: str = "1h",
) -> Path:
    digest = ""
    if digest_at is not None:
        digest = (
            f'[digest]\nschedule = "{_cron_at(digest_at)}"\ntimezone = "UTC"\n'
            f'recipients = ["analyst@example.com"]\ngrace = "{grace}"\n'
        )
    extra = (
        f'{digest}\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n\n'
        '[scheduler]\nstop_timeout = "60s"\nlock_timeout = "20s"\noutbox_every = "1s"\n\n'
        f'[[schedules]]\nname = "news"\n{crawl}\n'
    )
    return world_config(world, folder, extra)


@pytest.mark.fault(15)
def test_a_second_service_on_the_same_store_refuses_to_start(
    world: NewsWorld, tmp_path: Path, services: list[Service]
) -> None:
    with SmtpSink() as smtp:
        config = _config(world, tmp_path, smtp, digest_at=None, crawl=NEVER)
        first = Service(config, tmp_path / "first.log")
        services.append(first)
        first.wait_started()
        second = Service(config, tmp_path / "second.log")
        services.append(second)
        assert second.proc.wait(60) == 3
        assert "another scheduler is running on this store" in second.log
        assert f"pid {first.proc.pid}" in second.log
        assert "scheduler started" not in second.log
        assert first.proc.poll() is None  # the first one is unaffected
        assert first.stop() == 0
        assert _rows(tmp_path / "shopwatch.db", "SELECT count(*) FROM locks") == [(0,)]
        # the lock is released: a new service starts at once
        third = Service(config, tmp_path / "third.log")
        services.append(third)
        third.wait_started()
        assert third.stop() == 0


@pytest.mark.fault(14)
def test_a_missed_digest_is_sent_once_across_restarts(
    world: NewsWorld, tmp_path: Path, services: list[Service]
) -> None:
    with SmtpSink() as smtp:
        # the service was down at digest time and comes back hours later (within the grace)
        missed = datetime.now(UTC) - timedelta(hours=3)
        config = _config(world, tmp_path, smtp, digest_at=missed, crawl=NEVER, grace="6h")
        for round_ in range(3):
            service = Service(config, tmp_path / f"run{round_}.log")
            services.append(service)
            service.wait_started()
            if round_ == 0:
                assert "was missed; sending it now" in service.log
                wait_for(lambda: len(smtp.messages) == 1, 60, "the missed digest")
            else:
                assert "was missed" not in service.log
            assert service.stop() == 0
        assert len(smtp.messages) == 1
        subject = str(smtp.messages[0].message["Subject"])
        assert subject.startswith(f"shopwatch digest — {missed.date().isoformat()}")
        runs = _rows(tmp_path / "shopwatch.db", "SELECT status FROM job_runs WHERE job = 'digest'")
        assert runs == [("completed",)]


def test_a_digest_missed_longer_ago_than_the_grace_is_not_sent(
    world: NewsWorld, tmp_path: Path, services: list[Service]
) -> None:
    with SmtpSink() as smtp:
        long_ago = datetime.now(UTC) - timedelta(hours=3)  # grace is 1h
        config = _config(world, tmp_path, smtp, digest_at=long_ago, crawl=NEVER)
        service = Service(config, tmp_path / "run.log")
        services.append(service)
        service.wait_started()
        assert "was missed" not in service.log
        assert service.stop() == 0
        assert smtp.messages == []


def test_crawls_never_overlap_alerts_follow_each_crawl_and_sigterm_is_clean(
    world: NewsWorld, tmp_path: Path, services: list[Service]
) -> None:
    db = tmp_path / "shopwatch.db"
    with SmtpSink() as smtp, WebhookSink() as hook:
        config = _config(world, tmp_path, smtp, digest_at=None, crawl='every = "1s"')
        with config.open("a", encoding="utf-8") as extra:
            extra.write(
                '\n[delivery]\nalert_max_age = "3650d"\n\n[[alerts]]\nname = "temu"\n'
                f'entities = ["Temu"]\nchannels = ["{hook.url()}"]\n'
            )
        service = Service(config, tmp_path / "run.log")
        services.append(service)
        service.wait_started()

        def completed() -> int:
            rows = _rows(db, "SELECT count(*) FROM job_runs WHERE status = 'completed'")
            return int(rows[0][0])  # type: ignore[call-overload]

        wait_for(lambda: completed() >= 2, 150, "two completed crawls")
        wait_for(  # the third crawl is inside Scrapy: it has recorded its crawl run
            lambda: _rows(db, "SELECT count(*) FROM crawl_runs WHERE status = 'running'") == [(1,)],
            60,
            "a third crawl to be running",
        )
        assert service.stop() == 0  # SIGTERM in the middle of a crawl
        assert "scheduler stopped" in service.log
    runs = _rows(db, "SELECT started_at, finished_at, status, detail FROM job_runs ORDER BY id")
    assert len(runs) >= 3
    assert all(r[1] is not None for r in runs), "a run was left unfinished"
    for before, after in itertools.pairwise(runs):
        assert str(before[1]) <= str(after[0]), f"crawls overlapped: {before} {after}"
    statuses = [r[2] for r in runs]
    assert statuses[:2] == ["completed", "completed"]
    assert statuses[-1] in ("completed", "interrupted")
    crawl_runs = _rows(db, "SELECT status FROM crawl_runs ORDER BY id")
    assert crawl_runs[-1][0] in ("completed", "interrupted")  # Scrapy stopped gracefully
    assert "alerts:" in str(runs[0][3])  # alert evaluation ran after the crawl
    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
    fired = _rows(db, "SELECT count(*) FROM alerts")[0][0]
    assert isinstance(fired, int) and fired >= 3
    assert len(hook.posts) == fired  # each once, however many crawls ran
    assert _rows(db, "SELECT count(*) FROM articles") == _rows(
        db, "SELECT count(DISTINCT canonical_url) FROM articles"
    )


@pytest.mark.fault(16)
def test_what_the_outbox_held_before_a_start_is_delivered_by_the_service(
    world: NewsWorld, tmp_path: Path, services: list[Service]
) -> None:
    with SmtpSink() as smtp:
        config = _config(world, tmp_path, smtp, digest_at=None, crawl=NEVER)
        with config.open("a", encoding="utf-8") as extra:
            # a digest that never falls due: only the queued one may be sent, whatever the hour
            extra.write(
                '\n[digest]\nrecipients = ["analyst@example.com"]\nschedule = "0 3 29 2 *"\n'
            )
        config.write_text(
            config.read_text(encoding="utf-8") + '\n[delivery]\nretry_base = "1s"\n',
            encoding="utf-8",
        )
        open_store(f"sqlite:///{tmp_path / 'shopwatch.db'}").close()
        smtp.refuse(1)
        refused = run_cli("digest", "--date", "2026-11-13", "--send", config=config)
        assert refused.code == 1 and "421" in refused.err and smtp.messages == []
        service = Service(config, tmp_path / "run.log")
        services.append(service)
        service.wait_started()
        wait_for(lambda: len(smtp.messages) == 1, 30, "the queued digest")
        assert service.stop() == 0
        assert str(smtp.messages[0].message["Subject"]).startswith("shopwatch digest — 2026-11-13")
        assert _rows(tmp_path / "shopwatch.db", "SELECT status, attempts FROM deliveries") == [
            ("sent", 2)
        ]
