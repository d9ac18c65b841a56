"""Fault injection on the SQLite store: many processes at once (12), and SIGKILL mid-write (13).

Everything runs for real: ``shopwatch`` child processes on a real SQLite file,
crawling news worlds on loopback. The tests watch the file through their own
read-only connection; every wait is bounded.

Fault 12 lowers ``[store] busy_timeout`` from 30 s to 5 s for every process. Each
write transaction here is short (a crawl batch, an enrichment chunk, a lock
heartbeat: the longest wait for the write lock measured on a loaded 2-core machine
was about 2 s), so 5 s leaves a margin without letting a long wait hide a lock
held too long, and any write that did not start with ``BEGIN IMMEDIATE`` (whose
upgrade fails at once, whatever the timeout) still shows up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from config import example_watchlist_toml, load_settings
from newsworld import NewsWorld, articles, sources_toml
from tests.conftest import REPO, CliResult, run_cli
from tests.servers import WebhookSink, wait_for

PROBLEM = re.compile(r"traceback|locked|error", re.IGNORECASE)  # ("database is locked")
DERIVED = ("article_entities", "figures", "events", "people", "article_stories")


# --- processes, configuration and the store as seen from outside ------------------------


@dataclass
class Child:
    """A ``shopwatch`` child process in its own process group, its output in files."""

    name: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def kill_group(self) -> None:
        """SIGKILL the whole process group (the command and anything it started)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


@dataclass
class Children:
    folder: Path
    started: list[Child] = field(default_factory=list)

    def start(self, config: Path, *args: str, name: str) -> Child:
        env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
        env["COLUMNS"] = "200"
        out, err = self.folder / f"{name}.out", self.folder / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:  # the child keeps its own
            proc = subprocess.Popen(
                [sys.executable, "-m", "shopwatch", "--config", str(config), *args],
                stdout=stdout,
                stderr=stderr,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )
        child = Child(name, proc, out, err)
        self.started.append(child)
        return child


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    running = Children(tmp_path)
    yield running
    for child in running.started:  # only the groups this test started
        if child.proc.poll() is None:
            child.kill_group()


def write_config(
    path: Path, world: NewsWorld, db: Path, *, busy_timeout: float = 30, extra: str = ""
) -> Path:
    """A configuration crawling ``world`` into ``db`` (``extra`` goes inside ``[crawl]``)."""
    path.write_text(
        f'[store]\nurl = "sqlite:///{db}"\nbusy_timeout = {busy_timeout}\n\n'
        '[crawl]\nuser_agent = "shopwatch-test/0.1"\nallowed_networks = ["127.0.0.1/32"]\n'
        f"{extra}\n{sources_toml(world.base_url)}\n{example_watchlist_toml()}",
        encoding="utf-8",
    )
    return path


def reader(db: Path) -> sqlite3.Connection:
    """A read-only connection: the test looks at the file, never writes it."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    conn = reader(db)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def one(db: Path, sql: str, *params: object) -> Any:
    return rows(db, sql, *params)[0][0]


def has_schema(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        return one(db, "SELECT count(*) FROM sqlite_master WHERE name = 'articles'") == 1
    except sqlite3.Error:
        return False


def count_or_zero(db: Path, sql: str) -> int:
    """``sql``'s count, or 0 while the store does not exist yet."""
    return int(one(db, sql)) if has_schema(db) else 0


def assert_clean(label: str, code: int | None, err: str) -> None:
    assert code == 0, f"{label} exited {code}: {err}"
    assert not PROBLEM.search(err), f"{label} printed a problem on stderr: {err}"


# --- what a sound store looks like --------------------------------------------------------


def enriched_ids(db: Path) -> set[int]:
    """Articles marked enriched: an ``enrichments`` row for their current content."""
    return {
        r[0]
        for r in rows(
            db,
            "SELECT e.article_id FROM enrichments e JOIN articles a ON a.id = e.article_id "
            "WHERE e.content_hash = a.content_hash",
        )
    }


def derived_counts(db: Path) -> dict[str, Counter[int]]:
    """For each derived table, how many rows each article has there."""
    return {
        table: Counter(dict(rows(db, f"SELECT article_id, count(*) FROM {table} GROUP BY 1")))
        for table in DERIVED
    }


def assert_sound(db: Path) -> tuple[int, set[int]]:
    """Integrity, one row per canonical URL, and articles enriched all or nothing.

    An article not marked enriched has no derived row at all; one marked enriched
    has its story. Returns the article count and the enriched ids.
    """
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db, "PRAGMA foreign_key_check") == []
    total, distinct = rows(db, "SELECT count(*), count(DISTINCT canonical_url) FROM articles")[0]
    assert total == distinct, "an article is stored twice"
    ids = {r[0] for r in rows(db, "SELECT id FROM articles")}
    enriched = enriched_ids(db)
    derived = derived_counts(db)
    for table, per_article in derived.items():
        partial = set(per_article) - enriched
        assert not partial, f"{table} has rows of articles not marked enriched: {sorted(partial)}"
        assert set(per_article) <= ids
    missing_story = enriched - set(derived["article_stories"])
    assert not missing_story, f"enriched articles without their story: {sorted(missing_story)}"
    assert_search_index_matches(db)
    return total, enriched


def assert_search_index_matches(db: Path) -> None:
    """FTS5's own check that the full-text index matches ``articles``, on a copy in memory."""
    source, copy = reader(db), sqlite3.connect(":memory:")
    try:
        source.backup(copy)
        copy.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        source.close()
        copy.close()


def expected_derived(config: Path, db: Path, ids: set[int]) -> dict[str, Counter[int]]:
    """What enriching these articles must store, computed here with the same model and rules."""
    from nlp.pipeline import Enricher
    from storage.engine import open_store
    from storage.enrichment import _rows, pending_articles
    from storage.tables import ArticleEntity, EventRow, FigureRow, PersonRoleRow

    settings = load_settings(config, required=True)
    store = open_store(settings.store.url, create=False)
    try:
        with store.read() as session:
            items = [
                p
                for p in pending_articles(session, everything=True, limit=10_000)
                if p.article_id in ids
            ]
    finally:
        store.close()
    enricher = Enricher(settings.nlp.model, settings.watch)
    try:
        results = list(enricher.enrich([(item, item.text, item.language) for item in items]))
    finally:
        enricher.close()
    tables = {
        ArticleEntity: "article_entities",
        FigureRow: "figures",
        EventRow: "events",
        PersonRoleRow: "people",
    }
    expected: dict[str, Counter[int]] = {name: Counter() for name in tables.values()}
    for item, result in results:
        for kind, made in _rows(item, result).items():
            if made:
                expected[tables[kind]][item.article_id] = len(made)
    return expected


# --- 12: crawler, scheduler and CLI queries on one store at once ---------------------------

BUSY_TIMEOUT = 5  # seconds; see the module docstring
SERVICE_SOURCE = "shop-signal"  # the service crawls this source of the world, the CLI the others
MAX_QUERIES = 40
QUERY_SECONDS = 150


def _queries(folder: Path) -> list[Callable[[int], list[str]]]:
    return [
        lambda n: ["search", "Temu", "--format", "json", "--limit", "50"],
        lambda n: ["sources", "--format", "json"],
        lambda n: ["figures", "--format", "json", "--limit", "50"],
        lambda n: ["runs", "--format", "json"],
        lambda n: ["export", "articles", "--format", "csv", "--out", str(folder / f"a{n}.csv")],
        lambda n: ["events", "--format", "json"],
        lambda n: ["mentions", "--format", "json"],
        lambda n: ["export", "figures", "--format", "jsonl", "--out", str(folder / f"f{n}.jsonl")],
        lambda n: ["stories", "--format", "json"],
    ]


@dataclass(frozen=True)
class Snapshot:
    version: int  # PRAGMA data_version: changes when another connection commits
    articles: int
    enriched: int


def _snapshot(probe: sqlite3.Connection) -> Snapshot:
    version = probe.execute("PRAGMA data_version").fetchone()[0]
    articles_, enriched = probe.execute(
        "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM enrichments)"
    ).fetchone()
    return Snapshot(int(version), int(articles_), int(enriched))


@dataclass
class Query:
    args: list[str]
    result: CliResult
    before: Snapshot
    after: Snapshot


def _shared_extra(hook: WebhookSink) -> str:
    """Small enrichment chunks (more commits), a heartbeat every second, an alert rule."""
    return (
        '\n[nlp]\nchunk = 8\n\n[scheduler]\nlock_timeout = "4s"\noutbox_every = "1s"\n\n'
        '[delivery]\nalert_max_age = "3650d"\n\n'
        f'[[schedules]]\nname = "news"\nsources = ["{SERVICE_SOURCE}"]\n'
        'every = "1h"\n\n'  # its first crawl starts at once, and no second one during the test
        f'[[alerts]]\nname = "temu"\nentities = ["Temu"]\nchannels = ["{hook.url()}"]\n'
    )


def _published_by(*sources: str) -> int:
    return sum(a["publisher"] in sources for a in articles())


@pytest.mark.fault(12)
def test_crawl_service_and_queries_at_once_lose_nothing_and_never_show_a_lock(
    tmp_path: Path, children: Children
) -> None:
    db = tmp_path / "shopwatch.db"  # new: the crawl and the service create it together
    with NewsWorld() as world, WebhookSink() as hook:
        config = write_config(
            tmp_path / "shopwatch.toml",
            world,
            db,
            busy_timeout=BUSY_TIMEOUT,
            extra=_shared_extra(hook),
        )
        others = sorted({a["publisher"] for a in articles()} - {SERVICE_SOURCE})
        service = children.start(config, "run", name="service")
        crawl_args = [arg for name in others for arg in ("--source", name)]
        crawl = children.start(config, "crawl", "--json", *crawl_args, name="crawl")
        wait_for(lambda: has_schema(db), 60, "the store to be created")

        def service_crawled() -> bool:
            return (
                one(db, "SELECT count(*) FROM job_runs WHERE finished_at IS NOT NULL") >= 1
                or service.proc.poll() is not None
            )

        probe = reader(db)
        queries: list[Query] = []
        commands = _queries(tmp_path)
        deadline = time.monotonic() + QUERY_SECONDS
        try:
            for n in range(MAX_QUERIES):
                if crawl.proc.poll() is not None and service_crawled():
                    break
                assert time.monotonic() < deadline, "the writers did not finish in time"
                args = commands[n % len(commands)](n)
                before = _snapshot(probe)
                result = run_cli(*args, config=config, timeout=120)
                queries.append(Query(args, result, before, _snapshot(probe)))
        finally:
            probe.close()
        wait_for(lambda: crawl.proc.poll() is not None, 120, "the crawl to finish")
        wait_for(service_crawled, 120, "the service's crawl job to finish")
        wait_for(
            lambda: len(hook.posts) >= max(1, count_or_zero(db, "SELECT count(*) FROM alerts")),
            30,
            "the alerts to be delivered",
        )
        service.proc.send_signal(signal.SIGTERM)
        service_code = service.proc.wait(90)

    # every command succeeded and said nothing alarming
    for query in queries:
        assert_clean(" ".join(query.args), query.result.code, query.result.err)
    assert_clean("shopwatch crawl", crawl.proc.returncode, crawl.stderr)
    totals = json.loads(crawl.stdout)
    assert totals["failed"] == 0, totals
    assert totals["new"] == _published_by(*others), totals
    assert service_code == 0, service.stderr
    assert not PROBLEM.search(service.stderr), service.stderr
    assert "scheduler stopped" in service.stderr
    (job,) = rows(db, "SELECT status, detail, started_at, finished_at FROM job_runs")
    assert job[0] == "completed", job
    assert "failed 0" in job[1] and "alerts:" in job[1], job
    assert rows(db, "SELECT count(*) FROM crawl_errors WHERE kind = 'store'") == [(0,)]

    # the overlap was real: queries ran while articles and enrichments were being committed,
    # and the CLI's crawl ran while the service's crawl job did
    # (two at least: on a loaded machine a CLI start takes seconds; the overlap is what the
    # next lines prove)
    assert len(queries) >= 2, [q.args for q in queries]
    assert any(q.after.articles != q.before.articles for q in queries), queries
    assert any(q.after.enriched != q.before.enriched for q in queries), queries
    assert sum(q.after.version != q.before.version for q in queries) >= len(queries) // 2
    service_run = re.search(r"crawl run (\d+)", job[1])
    assert service_run is not None, job
    ((cli_start, cli_end),) = rows(
        db, "SELECT started_at, finished_at FROM crawl_runs WHERE id != ?", service_run[1]
    )
    assert cli_start < job[3] and job[2] < cli_end, "the two crawls did not overlap"

    # no lost rows: every article of the world once, every one enriched
    total, enriched = assert_sound(db)
    assert total == len(articles())
    assert {r[0] for r in rows(db, "SELECT canonical_url FROM articles")} == {
        world.base_url + a["path"] for a in articles()
    }
    assert len(enriched) == total
    assert one(db, "SELECT count(*) FROM alerts") >= 1


_OPENER = """
import pathlib, sys, time
from storage.engine import open_store
folder, me, rounds = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(folder / f"ready-{me}").touch()
failed = False
for n in range(rounds):
    go = folder / f"go-{n}"
    for _ in range(6000):
        if go.exists():
            break
        time.sleep(0.005)
    try:
        open_store(f"sqlite:///{folder / f'new{n}.db'}", 3).close()
    except Exception as exc:
        print(f"round {n}: {exc}", file=sys.stderr)
        failed = True
    (folder / f"done-{n}-{me}").touch()
sys.exit(1 if failed else 0)
"""


@pytest.mark.fault(12)
def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Commands started together on a store that does not exist yet all create it, once."""
    processes, rounds = 3, 2

    def all_there(prefix: str) -> bool:
        return len(list(tmp_path.glob(f"{prefix}-*"))) == processes

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(tmp_path), str(me), str(rounds)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(processes)
    ]
    try:
        wait_for(lambda: all_there("ready"), 60, "every process to be ready")
        for n in range(rounds):
            (tmp_path / f"go-{n}").touch()  # all at once, on a new file
            wait_for(lambda n=n: all_there(f"done-{n}"), 60, f"round {n}")
        errors = [proc.communicate(timeout=30)[1].strip() for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [proc.returncode for proc in procs] == [0] * processes, errors
    for n in range(rounds):
        db = tmp_path / f"new{n}.db"
        names = {r[0] for r in rows(db, "SELECT name FROM sqlite_master")}
        assert {"articles", "articles_fts", "enrichments", "job_runs"} <= names


# --- 13: SIGKILL in the middle of a crawl's writes, and of its enrichment ------------------

# one request at a time, so the articles are stored over several batches; small chunks, so
# the enrichment commits several times
SLOW_CRAWL = "concurrency = 1\nper_host_concurrency = 1\n\n[nlp]\nchunk = 4\n"


@dataclass
class Killed:
    """One store taken through: SIGKILL mid-crawl, SIGKILL mid-enrichment, a rerun."""

    world_urls: set[str]
    config: Path
    db: Path
    stored_after_crawl_kill: int = 0
    enriched_after_crawl_kill: set[int] = field(default_factory=set)
    stored_after_enrich_kill: int = 0
    enriched_after_enrich_kill: set[int] = field(default_factory=set)
    derived_after_enrich_kill: dict[str, Counter[int]] = field(default_factory=dict)
    reference: dict[str, Counter[int]] = field(default_factory=dict)
    rerun: CliResult | None = None


def _kill_when(child: Child, ready: Callable[[], bool], timeout: float, what: str) -> None:
    wait_for(lambda: ready() or child.proc.poll() is not None, timeout, what)
    child.kill_group()
    assert child.proc.returncode == -signal.SIGKILL, f"{child.name} ended by itself before {what}"


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Killed]:
    folder = tmp_path_factory.mktemp("killed")
    db = folder / "shopwatch.db"
    running = Children(folder)
    try:
        with NewsWorld() as world:
            config = write_config(folder / "shopwatch.toml", world, db, extra=SLOW_CRAWL)
            state = Killed({world.base_url + a["path"] for a in articles()}, config, db)
            expected = len(articles())

            # 1. while the crawl writes its batches of articles
            first = running.start(config, "crawl", name="first")
            _kill_when(
                first,
                lambda: count_or_zero(db, "SELECT count(*) FROM articles") > 0,
                90,
                "the first articles were stored",
            )
            state.stored_after_crawl_kill, state.enriched_after_crawl_kill = assert_sound(db)
            assert 0 < state.stored_after_crawl_kill < expected, "the kill came too late"

            # 2. while the enrichment commits its chunks
            second = running.start(config, "crawl", name="second")

            def midway() -> bool:  # some articles enriched, some still waiting
                enriched = count_or_zero(db, "SELECT count(*) FROM enrichments")
                return 0 < enriched < count_or_zero(db, "SELECT count(*) FROM articles")

            _kill_when(second, midway, 120, "the enrichment stored a chunk, with more to do")
            state.stored_after_enrich_kill, state.enriched_after_enrich_kill = assert_sound(db)
            state.derived_after_enrich_kill = derived_counts(db)
            assert 0 < len(state.enriched_after_enrich_kill) < state.stored_after_enrich_kill, (
                f"the kill came too late: {len(state.enriched_after_enrich_kill)} of "
                f"{state.stored_after_enrich_kill} articles enriched"
            )

            # 3. a new crawl, to finish the job; meanwhile, what those enriched rows must be
            with ThreadPoolExecutor(1) as pool:
                reference = pool.submit(
                    expected_derived, config, db, state.enriched_after_enrich_kill
                )
                state.rerun = run_cli("crawl", "--json", config=config, timeout=240)
                state.reference = reference.result(timeout=240)
        yield state
    finally:
        for child in running.started:
            if child.proc.poll() is None:
                child.kill_group()


@pytest.mark.fault(13)
def test_sigkill_mid_crawl_leaves_a_sound_store_with_nothing_half_enriched(
    killed: Killed,
) -> None:
    assert 0 < killed.stored_after_crawl_kill < len(killed.world_urls)
    # the enrichment runs alongside the crawl and died with it: whatever it had
    # committed is whole (assert_sound checked every enriched article has all its rows)
    assert len(killed.enriched_after_crawl_kill) <= killed.stored_after_crawl_kill


@pytest.mark.fault(13)
def test_sigkill_mid_enrichment_leaves_each_article_with_all_its_rows_or_none(
    killed: Killed,
) -> None:
    enriched = killed.enriched_after_enrich_kill
    assert 0 < len(enriched) < killed.stored_after_enrich_kill
    for table, expected in killed.reference.items():
        stored = killed.derived_after_enrich_kill[table]
        got = {i: stored[i] for i in enriched if stored[i]}
        assert got == dict(expected), f"{table}: an article marked enriched lacks rows"


@pytest.mark.fault(13)
def test_rerun_after_sigkills_stores_nothing_twice_and_enriches_everything(
    killed: Killed,
) -> None:
    assert killed.rerun is not None
    assert_clean("the rerun", killed.rerun.code, killed.rerun.err)
    assert killed.rerun.json()["failed"] == 0
    stored, enriched = assert_sound(killed.db)
    assert stored >= killed.stored_after_enrich_kill
    assert len(enriched) == stored, "the rerun left articles unenriched"


@pytest.mark.fault(13)
def test_rerun_after_a_sigkill_mid_crawl_stores_every_article(killed: Killed) -> None:
    stored = {r[0] for r in rows(killed.db, "SELECT canonical_url FROM articles")}
    missing = sorted(killed.world_urls - stored)
    assert not missing, f"{len(missing)} article(s) never stored after the kill: {missing[:3]}"
    assert len(stored) == len(killed.world_urls)


def _in_session(session: int) -> list[int]:
    """Live processes of a session (the crawl was started as the leader of its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.fault(13)
def test_sigkill_of_the_crawl_alone_lets_its_enrichment_finish_and_leave(
    children: Children, tmp_path: Path
) -> None:
    """The enrichment child notices its crawl is gone, enriches what was stored, and exits."""
    db = tmp_path / "shopwatch.db"
    with NewsWorld() as world:
        config = write_config(tmp_path / "shopwatch.toml", world, db, extra=SLOW_CRAWL)
        crawl = children.start(config, "crawl", name="crawl")
        session = crawl.proc.pid
        wait_for(
            lambda: (count_or_zero(db, "SELECT count(*) FROM articles") > 0
                     and len(_in_session(session)) > 1) or crawl.proc.poll() is not None,
            120,
            "the first articles stored, the enrichment process started",
        )  # fmt: skip
        os.kill(crawl.proc.pid, signal.SIGKILL)  # the command only, not its group
        crawl.proc.wait(30)
        assert crawl.proc.returncode == -signal.SIGKILL, "the crawl ended before the kill"
        wait_for(lambda: not _in_session(session), 120, "the enrichment processes to exit")
    stored, enriched = assert_sound(db)
    assert 0 < stored < len(articles()), "the kill came too late"
    assert len(enriched) == stored, "an article stored before the kill was left unenriched"
