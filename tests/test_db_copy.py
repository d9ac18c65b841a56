"""``shopwatch db copy``: the crawled news world's store copied into the real PostgreSQL
server of this machine (a fresh database per test) and into another SQLite file.

Every table's rows must arrive unchanged, a second copy must write nothing, a copy
killed midway must finish when run again with the same result, the CLI must answer
the same from both stores, and a target that is the source itself or holds another
store's data must be refused.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlmodel import Session

from shopwatch.errors import StoreError
from storage.alerts import mark_checked
from storage.copy import PROGRESS_TABLE, copied_columns, copied_tables, copy_store
from storage.engine import Store, open_store
from storage.outbox import enqueue, record_alert, record_digest
from storage.service import finish_job, start_job
from storage.tables import (
    AlertRecord,
    Article,
    CrawlError,
    Delivery,
    DigestRecord,
    ServiceLock,
)
from tests.conftest import REPO, CrawledWorld, postgres_database, run_cli, world_config


@pytest.fixture(scope="module")
def source(crawled: CrawledWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the crawled store, with a digest, an alert, deliveries, job runs and a lock
    added so that every table holds rows: its configuration file."""
    folder = tmp_path_factory.mktemp("copy-source")
    config = world_config(crawled.world, folder)
    with (
        sqlite3.connect(crawled.config.parent / "shopwatch.db") as original,
        sqlite3.connect(folder / "shopwatch.db") as copy,
    ):
        original.backup(copy)
    store = open_store(f"sqlite:///{folder / 'shopwatch.db'}", create=False)
    now = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    with store.write() as session:
        article_id = session.execute(text("SELECT min(id) FROM articles")).scalar_one()
        digest = record_digest(
            session,
            DigestRecord(
                key="2026-11-20|a@example.org",
                day="2026-11-20",
                subject="Digest",
                articles=3,
                stories=2,
                created_at=now,
            ),
        )
        alert = record_alert(
            session,
            AlertRecord(
                rule="temu-gmv",
                story_id=1,
                article_id=article_id,
                title="A title",
                sentence="A sentence.",
                url="https://example.org/a",
                source="retail-daily",
                outlets=2,
                reason="GMV figure",
                fired_at=now,
            ),
        )
        for kind, ref in (("digest", digest.id), ("alert", alert.id)):
            enqueue(
                session,
                Delivery(
                    key=f"{kind}:{ref}",
                    kind=kind,
                    ref=ref,
                    channel="smtp",
                    recipients=["a@example.org"],
                    subject="Subject",
                    body="Body",
                    message=b"\x00\x01raw",
                    next_attempt_at=now,
                    created_at=now,
                ),
            )
        job = start_job(session, "crawl:all", now, now - timedelta(seconds=5))
        finish_job(session, job, now + timedelta(minutes=1), "ok", "fetched 3")
        start_job(session, "digest", now + timedelta(hours=1), None)
        run_id = session.execute(text("SELECT min(id) FROM crawl_runs")).scalar_one()
        session.add(
            CrawlError(
                run_id=run_id,
                source="retail-daily",
                url="https://example.org/gone",
                kind="http",
                message="HTTP 404",
                at=now,
            )
        )
        mark_checked(session, [(article_id, "hash-1")], now)
        session.add(
            ServiceLock(
                name="scheduler",
                owner="owner-1",
                host="host",
                pid=123,
                acquired_at=now,
                renewed_at=now,
            )
        )
    store.close()
    return config


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    with postgres_database("shopwatch_copy") as url:
        yield url


def _url(config: Path) -> str:
    return f"sqlite:///{config.parent / 'shopwatch.db'}"


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, list | dict):
        return repr(value)
    return value


def _contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every copied table's rows as tuples of normalised values, in key order."""
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return {
                table.name: sorted(
                    (
                        tuple(_value(v) for v in row)
                        for row in conn.execute(select(*copied_columns(table)))
                    ),
                    key=repr,
                )
                for table in copied_tables()
            }
    finally:
        store.close()


def _copy(config: Path, to: str, *extra: str) -> Any:
    result = run_cli("db", "copy", "--to", to, "--json", *extra, config=config)
    assert result.code == 0, result.err
    return result.json()


def _pg_scalar(url: str, sql: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


@pytest.mark.fault(22)
def test_copy_into_postgresql_is_complete_and_runs_again_without_copying_twice(
    source: Path, pg_url: str
) -> None:
    expected = _contents(_url(source))
    assert all(expected.values()), [name for name, rows in expected.items() if not rows]
    first = _copy(source, pg_url)
    assert _contents(pg_url) == expected
    assert first["written"] == sum(len(rows) for rows in expected.values())
    for name, rows in expected.items():
        assert first[name]["target_rows"] == len(rows) == first[name]["written"], name
    assert _pg_scalar(pg_url, "SELECT count(*) FROM locks") == 0  # the lock is not copied
    max_id = _pg_scalar(pg_url, "SELECT max(id) FROM articles")
    assert _pg_scalar(pg_url, "SELECT nextval(pg_get_serial_sequence('articles', 'id'))") > max_id

    again = _copy(source, pg_url)
    assert again["written"] == 0
    assert _contents(pg_url) == expected


@pytest.mark.fault(22)
def test_a_killed_copy_finishes_when_run_again(source: Path, pg_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
    command = [sys.executable, "-m", "shopwatch", "--config", str(source)]
    proc = subprocess.Popen(
        [*command, "db", "copy", "--to", pg_url, "--batch", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = create_engine(pg_url)
    try:
        deadline = time.monotonic() + 120
        copied = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with engine.connect() as conn:
                    copied = conn.execute(text("SELECT count(*) FROM articles")).scalar_one()
            except Exception:  # the schema is not there yet
                copied = 0
            if copied >= 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the copy ended before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.dispose()
    expected = _contents(_url(source))
    assert _contents(pg_url) != expected  # interrupted midway

    resumed = _copy(source, pg_url, "--batch", "7")
    assert _contents(pg_url) == expected
    assert resumed["written"] < sum(len(rows) for rows in expected.values())
    assert _copy(source, pg_url)["written"] == 0


def _pg_config(source: Path, pg_url: str, folder: Path) -> Path:
    config = folder / "pg.toml"
    body = source.read_text(encoding="utf-8").replace(_url(source), pg_url)
    config.write_text(body, encoding="utf-8")
    return config


def _answers(config: Path, *args: str) -> set[Any]:
    """The articles a search finds (ids: snippets are each database's own), or whole figures."""
    result = run_cli(*args, "--format", "json", config=config)
    assert result.code == 0, result.err
    if args[0] == "search":
        return {record["id"] for record in result.json()}
    return {tuple(sorted((k, repr(v)) for k, v in record.items())) for record in result.json()}


def test_the_cli_answers_the_same_from_the_copy(source: Path, pg_url: str, tmp_path: Path) -> None:
    _copy(source, pg_url)
    pg = _pg_config(source, pg_url, tmp_path)
    for question in (
        ("search", "--limit", "1000"),
        ("search", "--entity", "Temu", "--limit", "1000"),
        ("search", "Temu", "--limit", "1000"),
        ("figures", "--limit", "1000"),
        ("figures", "--entity", "Temu", "--limit", "1000"),
    ):
        ours, theirs = _answers(source, *question), _answers(pg, *question)
        assert ours and ours == theirs, question


def test_copy_into_another_sqlite_file_keeps_full_text_search(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "backup" / "shopwatch.db"
    _copy(source, f"sqlite:///{target}")
    assert _contents(f"sqlite:///{target}") == _contents(_url(source))
    assert _copy(source, f"sqlite:///{target}")["written"] == 0
    backup = tmp_path / "backup.toml"
    backup.write_text(
        source.read_text(encoding="utf-8").replace(_url(source), f"sqlite:///{target}"),
        encoding="utf-8",
    )
    question = ("search", "Temu", "--limit", "1000")
    assert _answers(source, *question) == _answers(backup, *question)
    assert _answers(source, *question)


def test_a_copy_run_again_brings_changed_rows_and_new_ones(
    source: Path, crawled: CrawledWorld, tmp_path: Path
) -> None:
    config = world_config(crawled.world, tmp_path / "changing")
    db = config.parent / "shopwatch.db"
    with sqlite3.connect(source.parent / "shopwatch.db") as original, sqlite3.connect(db) as copy:
        original.backup(copy)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    _copy(config, target)
    with sqlite3.connect(db) as conn:  # what a crawl and the service change in place, and add
        conn.execute(
            "UPDATE endpoints SET etag = 'W/\"new\"' WHERE id = (SELECT min(id) FROM endpoints)"
        )
        conn.execute("UPDATE job_runs SET status = 'ok' WHERE status = 'running'")
        conn.execute(
            "INSERT INTO figures (article_id, value, unit, metric, change, text, sentence, start, "
            "\"end\") SELECT min(id), 1.5, 'USD', 'GMV', 'none', '$1.5', 'A sentence.', 0, 4 "
            "FROM articles"
        )
    again = _copy(config, target)
    assert (again["endpoints"]["written"], again["job_runs"]["written"]) == (1, 1)
    assert again["figures"]["written"] == 1 and again["written"] == 3
    assert _contents(target) == _contents(_url(config))


def test_copy_refuses_the_store_itself(source: Path, tmp_path: Path) -> None:
    db = source.parent / "shopwatch.db"
    same = run_cli("db", "copy", "--to", f"sqlite:///{db}", config=source)
    assert same.code == 1 and "is the configured store itself" in same.err, same.err
    for name, make in (("symlink.db", os.symlink), ("hardlink.db", os.link)):
        alias = tmp_path / name
        make(db, alias)
        linked = run_cli("db", "copy", "--to", f"sqlite:///{alias}", config=source)
        assert linked.code == 1 and "is the configured store itself" in linked.err, linked.err
    conn = sqlite3.connect(db)
    try:  # the check left nothing behind in the source
        found = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = ?", (PROGRESS_TABLE,)
        ).fetchone()
    finally:
        conn.close()
    assert found == (0,)


def test_copy_refuses_one_store_under_two_names(pg_url: str) -> None:
    # what no URL shows (another name of one server): a row written there appears here
    first, second = open_store(pg_url), open_store(pg_url)
    try:
        with pytest.raises(StoreError, match="is the source store itself"):
            copy_store(first, second)
        with first.engine.connect() as conn:
            assert not inspect(conn).has_table(PROGRESS_TABLE)
    finally:
        first.close()
        second.close()


@pytest.mark.fault(22)
def test_copy_refuses_a_target_with_another_stores_data(
    source: Path, pg_url: str, tmp_path: Path, crawled: CrawledWorld
) -> None:
    # data written there directly, not by a copy
    target = open_store(pg_url)
    with Session(target.engine) as session:
        session.add(
            Article(
                source="elsewhere",
                url="https://example.net/x",
                canonical_url="https://example.net/x",
                title="Elsewhere",
                sort_at=datetime(2026, 1, 1, tzinfo=UTC),
                first_seen_at=datetime(2026, 1, 1, tzinfo=UTC),
                fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
                text="x",
                content_hash="h",
            )
        )
        session.commit()
    target.close()
    refused = run_cli("db", "copy", "--to", pg_url, config=source)
    assert refused.code == 1, refused.err
    assert "already holds data that is not a copy of this store" in refused.err
    assert _pg_scalar(pg_url, "SELECT count(*) FROM articles") == 1

    # a copy of another store
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM articles"))
    engine.dispose()
    other = world_config(crawled.world, tmp_path / "other")
    assert run_cli("db", "upgrade", config=other).code == 0
    _copy(source, pg_url)
    store = open_store(_url(other))
    with Session(store.engine) as session:
        session.add(
            Article(
                source="other",
                url="https://example.net/y",
                canonical_url="https://example.net/y",
                title="Other",
                sort_at=datetime(2026, 2, 1, tzinfo=UTC),
                first_seen_at=datetime(2026, 2, 1, tzinfo=UTC),
                fetched_at=datetime(2026, 2, 1, tzinfo=UTC),
                text="y",
                content_hash="h2",
            )
        )
        session.commit()
    store.close()
    foreign = run_cli("db", "copy", "--to", pg_url, config=other)
    assert foreign.code == 1, foreign.err
    assert "holds a copy of another store" in foreign.err
    assert _contents(pg_url) == _contents(_url(source))


def test_copy_to_an_unreachable_store_says_so(source: Path) -> None:
    result = run_cli(
        "db",
        "copy",
        "--to",
        "postgresql+psycopg://postgres:secret@127.0.0.1:9/none",
        config=source,
        timeout=60,
    )
    assert result.code == 1
    assert "cannot reach the target store" in result.err, result.err
    assert "secret" not in result.err and "Traceback" not in result.err
