"""Distributed crawling: ``shopwatch crawl`` enqueues into Redis, ``shopwatch worker`` crawls.

Against the Redis server on 127.0.0.1:6379 and a SQLite store per test; each
test has its own key prefix, and its keys are deleted afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from crawler.queue import Queue
from newsworld import NewsWorld, articles
from tests.conftest import REPO, postgres_database, run_cli, world_config
from tests.servers import wait_for

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Shared:
    prefix: str
    client: redis.Redis

    def config(self, world: NewsWorld, folder: Path, extra: str = "") -> Path:
        return world_config(
            world,
            folder,
            f'queue = "{REDIS_URL}"\nqueue_prefix = "{self.prefix}"\n{extra}',
        )


@pytest.fixture
def shared() -> Iterator[Shared]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    prefix = f"swtest-{uuid.uuid4().hex[:8]}"
    yield Shared(prefix, client)
    Queue(client, prefix).delete_all()
    client.close()


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # waits, and closes the pipes


def start_worker(
    config: Path,
    started: list[subprocess.Popen[str]],
    idle: float = 3,
    *,
    module: str = "shopwatch",
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"} | (env or {})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "--config",
            str(config),
            "worker",
            "--json",
            "--exit-when-idle",
            str(idle),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    started.append(proc)
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> dict[str, object]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    summary: dict[str, object] = json.loads(out)
    return summary


def _url(db: Path | str) -> str:
    return db if isinstance(db, str) else f"sqlite:///{db}"


def stored(db: Path | str) -> tuple[int, int]:
    """(rows, distinct canonical URLs) in the articles table of a SQLite file or a URL."""
    if isinstance(db, Path) and not db.exists():
        return 0, 0
    engine = create_engine(_url(db))
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT count(*), count(DISTINCT url) FROM articles")).one()
    except DBAPIError:  # the schema is not there yet
        return 0, 0
    finally:
        engine.dispose()
    return int(row[0]), int(row[1])


def worker_runs(db: Path | str) -> list[tuple[int, int, str]]:
    engine = create_engine(_url(db))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT fetched, new, status FROM crawl_runs ORDER BY id")).all()
    engine.dispose()
    return [(int(f), int(n), str(s)) for f, n, s in rows]


def article_paths() -> set[str]:
    return {a["path"] for a in articles()}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """The shared store: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "shopwatch.db"
        return
    with postgres_database("shopwatch_workers") as url:
        yield url


def test_crawl_enqueues_and_two_workers_share_the_world(
    world: NewsWorld,
    tmp_path: Path,
    shared: Shared,
    workers: list[subprocess.Popen[str]],
    store_url: Path | str,
) -> None:
    # one request at a time each, so neither worker finishes the world in a blink
    config = shared.config(world, tmp_path, "concurrency = 1\nper_host_concurrency = 1\n")
    db = store_url
    if isinstance(db, str):
        written = config.read_text(encoding="utf-8")
        config.write_text(
            written.replace(f'url = "sqlite:///{tmp_path / "shopwatch.db"}"', f'url = "{db}"', 1),
            encoding="utf-8",
        )
        assert db in config.read_text(encoding="utf-8")
    mark = len(world.requests)
    result = run_cli("crawl", "--json", config=config)
    assert result.code == 0, result.err
    enqueued = result.json()
    assert enqueued["feeds"] == 3 and enqueued["sitemaps"] == 2 and enqueued["listings"] == 1
    assert enqueued["queued"] == 6
    assert world.requests_since(mark) == [], "enqueuing fetched something"
    assert stored(db) == (0, 0)

    mark = len(world.requests)
    pages = article_paths()

    def articles_fetched() -> int:
        return sum(r.path in pages for r in world.requests_since(mark))

    # The first worker is held (SIGSTOP) once it has fetched an article, until the second
    # has fetched one too: however fast either starts, both take part. The held worker's
    # lease (30 s) outlasts the pause, so its in-flight request is nobody else's.
    first = start_worker(config, workers)
    wait_for(lambda: articles_fetched() > 0, 120, "the first worker's first article")
    os.kill(first.pid, signal.SIGSTOP)
    try:
        held = articles_fetched()
        assert held < len(pages), "the first worker fetched the whole world before the pause"
        second = start_worker(config, workers)
        wait_for(lambda: articles_fetched() > held, 120, "the second worker's first article")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    summaries = [finish(first), finish(second)]
    expected = len(articles())
    assert stored(db) == (expected, expected)
    assert all(s["status"] == "completed" and s["returned"] == 0 for s in summaries)
    runs = worker_runs(db)
    assert len(runs) == 2 and all(fetched > 0 for fetched, _, _ in runs), runs
    assert sum(new for _, new, _ in runs) == expected
    paths = Counter(r.path for r in world.requests_since(mark) if r.path != "/robots.txt")
    assert article_paths() <= set(paths)
    assert [p for p, n in paths.items() if n > 1] == [], "a page was fetched twice"
    assert Queue(shared.client, shared.prefix).idle()


@pytest.mark.fault(21)
def test_a_killed_worker_loses_nothing(
    world: NewsWorld, tmp_path: Path, shared: Shared, workers: list[subprocess.Popen[str]]
) -> None:
    slow = 'concurrency = 1\nper_host_concurrency = 1\nqueue_lease = "2s"\n'
    config = shared.config(world, tmp_path, slow)
    db = tmp_path / "shopwatch.db"
    assert run_cli("crawl", config=config).code == 0
    expected = len(articles())

    doomed = start_worker(config, workers)
    wait_for(
        lambda: stored(db)[0] > 0 or doomed.poll() is not None, 120, "the first articles stored"
    )
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.communicate(timeout=30)
    assert doomed.returncode == -signal.SIGKILL, "the worker ended before the kill"
    before = stored(db)[0]
    assert 0 < before < expected, "the kill came too late"
    queue = Queue(shared.client, shared.prefix)
    assert not queue.idle(), "the killed worker's requests are neither queued nor in flight"

    summary = finish(start_worker(config, workers), timeout=240)
    assert summary["status"] == "completed"
    assert stored(db) == (expected, expected), "an article was lost or stored twice"
    assert queue.idle()
    assert shared.client.smembers(queue.keys.workers) == set(), "the dead worker is remembered"


@pytest.mark.fault(21)
def test_a_request_is_acknowledged_only_after_its_article_is_stored(
    world: NewsWorld, tmp_path: Path, shared: Shared, workers: list[subprocess.Popen[str]]
) -> None:
    """Scrapy hands a callback's item on after the callback returns: the ack must wait for it.

    The worker here acknowledges each request the moment it counts as finished
    (tests/eager_ack.py), so an acknowledgement that came before its article was
    written shows in the log, where a normal worker would only lose the article
    if it died in that gap.
    """
    config = shared.config(world, tmp_path)
    db = tmp_path / "shopwatch.db"
    assert run_cli("crawl", config=config).code == 0
    log = tmp_path / "acks.jsonl"
    env = {"SHOPWATCH_ACK_LOG": str(log)}
    summary = finish(start_worker(config, workers, module="tests.eager_ack", env=env))
    assert summary["status"] == "completed"
    expected = len(articles())
    assert stored(db) == (expected, expected)
    engine = create_engine(_url(db))
    with engine.connect() as conn:
        final = set(conn.execute(text("SELECT url FROM articles")).scalars())
    engine.dispose()
    acks = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    acknowledged = Counter(url for ack in acks for url in ack["acknowledged"])
    assert final <= set(acknowledged), "a stored article's request was never acknowledged"
    assert max(acknowledged.values()) == 1, "a request was acknowledged twice"
    early = [u for a in acks for u in a["acknowledged"] if u in final and u not in a["stored"]]
    assert early == [], "acknowledged before its article was in the store"


@pytest.mark.fault(21)
def test_each_feed_is_fetched_once_a_round(
    world: NewsWorld, tmp_path: Path, shared: Shared, workers: list[subprocess.Popen[str]]
) -> None:
    config = shared.config(world, tmp_path)
    first = run_cli("crawl", "--json", config=config)
    again = run_cli("crawl", "--json", config=config)  # before any worker took the seeds
    assert first.code == 0 and again.code == 0, first.err + again.err
    assert again.json()["already queued"] == 5 and again.json()["feeds"] == 0

    mark = len(world.requests)
    pair = start_worker(config, workers), start_worker(config, workers)
    for proc in pair:
        finish(proc)
    endpoints = Counter(
        r.path
        for r in world.requests_since(mark)
        if r.path.endswith((".xml", ".json", ".rss", ".atom")) or "feed" in r.path
    )
    assert endpoints, "no feed was fetched"
    assert {p: n for p, n in endpoints.items() if n > 1} == {}, "a feed was fetched twice"
    following = run_cli("crawl", "--json", config=config)  # the next round queues them again
    assert following.code == 0 and following.json()["feeds"] == 3, following.out


def test_a_feed_lease_is_held_by_one_worker(shared: Shared) -> None:
    one = Queue(shared.client, shared.prefix, "one")
    two = Queue(shared.client, shared.prefix, "two")
    url = "http://127.0.0.1:1/feed.xml"
    assert one.claim_feed(url, 10_000)
    assert not two.claim_feed(url, 10_000), "two workers held one feed"
    two.release_feed(url)  # not its lease: nothing happens
    assert not two.claim_feed(url, 10_000)
    one.release_feed(url)
    assert two.claim_feed(url, 10_000)


def test_queue_must_be_a_redis_url(tmp_path: Path, world: NewsWorld) -> None:
    config = world_config(world, tmp_path, 'queue = "http://127.0.0.1:6379"\n')
    result = run_cli("crawl", config=config)
    assert result.code == 2
    assert "crawl.queue" in result.err and "redis://" in result.err


@pytest.mark.fault(21)
def test_sigterm_puts_the_unfinished_requests_back(
    world: NewsWorld, tmp_path: Path, shared: Shared, workers: list[subprocess.Popen[str]]
) -> None:
    slow = "concurrency = 1\nper_host_concurrency = 1\n"
    config = shared.config(world, tmp_path, slow)
    db = tmp_path / "shopwatch.db"
    assert run_cli("crawl", config=config).code == 0
    first = start_worker(config, workers, idle=60)
    wait_for(lambda: stored(db)[0] > 0 or first.poll() is not None, 120, "the first articles")
    first.send_signal(signal.SIGTERM)
    summary = finish(first, timeout=60)
    assert summary["status"] == "interrupted"
    queue = Queue(shared.client, shared.prefix)
    assert queue.queued() > 0 and queue.idle() is False
    assert shared.client.smembers(queue.keys.workers) == set(), "the stopped worker stayed"
    assert stored(db)[0] < len(articles())

    finish(start_worker(config, workers))
    assert stored(db) == (len(articles()), len(articles()))


@pytest.mark.fault(21)
def test_expired_workers_requests_go_back(shared: Shared) -> None:
    import time

    dead = Queue(shared.client, shared.prefix, "dead")
    live = Queue(shared.client, shared.prefix, "live")
    dead.push(b"request-a", -10)
    dead.push(b"request-b", 0)
    dead.heartbeat(200)
    assert dead.take() == b"request-a"  # the best score first, now in flight
    assert live.recover() == 0, "a live worker's requests were taken from it"
    time.sleep(0.4)
    assert live.recover() == 1
    assert shared.client.zrange(live.keys.requests, 0, -1) == [b"request-a", b"request-b"]
    assert shared.client.smembers(live.keys.workers) == set()


def test_the_scheduled_crawl_only_enqueues(
    world: NewsWorld, tmp_path: Path, shared: Shared
) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from config import load_settings
    from schedules.jobs import Jobs
    from schedules.plan import JobSpec
    from storage.engine import open_store
    from storage.service import job_runs

    settings = load_settings(shared.config(world, tmp_path), required=True)
    store = open_store(settings.store.url)
    mark = len(world.requests)
    try:
        trigger = IntervalTrigger(hours=1, timezone="UTC")
        Jobs(settings, store, None).crawl(JobSpec("crawl", "crawl", "every source", trigger))
        with store.read() as session:
            job = job_runs(session, "crawl", 1)[0]
    finally:
        store.close()
    assert job.status == "completed", job.detail
    assert "6 seeds enqueued" in (job.detail or "")
    assert world.requests_since(mark) == []
    assert Queue(shared.client, shared.prefix).queued() == 6
