"""Schema migrations, on real SQLite files and on the real PostgreSQL server of this machine.

A store at the baseline revision holding the crawled news world and some alert
history is upgraded without losing anything; a store made before migrations is
recognised, stamped and upgraded; processes opening a store at once all succeed;
``shopwatch db`` reports and upgrades; and the migrated schema is the models',
views' and FTS index's of the code, so models and migrations cannot drift apart;
revision 0003 gives PostgreSQL stores their search column (and SQLite ones nothing).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect, select, text
from sqlalchemy.schema import CreateIndex
from sqlmodel import Session, SQLModel

from shopwatch.errors import StoreError
from storage.engine import Store, open_store
from storage.fts import FTS_DDL, create_fts
from storage.migrate import known_revisions, stored_revision
from storage.migrations import (
    BASELINE,
    HEAD,
    NOT_MODELLED_INDEXES,
    baseline,
    include_object,
)
from storage.runs import latest_runs, start_run
from storage.tables import CrawlRun
from storage.views import VIEW_NAMES, create_views, view_sql
from tests.conftest import REPO, CrawledWorld, postgres_database, run_cli

NEW_COLUMNS = {"pid", "host"}  # what revision 0002 adds to crawl_runs
AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)

Backend = Callable[[], str]  # makes a new empty database and gives its URL


# --- databases --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """New empty databases of the backend, as many as the test asks for; dropped afterwards."""
    files = iter(range(1000))
    with ExitStack() as databases:

        def make() -> str:
            if request.param == "sqlite":
                return f"sqlite:///{tmp_path / f'store{next(files)}.db'}"
            return databases.enter_context(postgres_database())

        yield make


def at_revision(url: str, target: str) -> Store:
    store = Store(url, 5)
    assert store.upgrade(target).after == target
    return store


def make_premigration(url: str) -> Store:
    """A store as shopwatch made them before migrations: ``create_all``, indexes, FTS, views.

    The models are those of today less what revision 0002 added, and the index
    ``ix_articles_source_sort`` is left out, as in a store made before it was added.
    """
    store = Store(url, 5)
    with store.engine.begin() as conn:
        SQLModel.metadata.create_all(conn)
        for table in SQLModel.metadata.sorted_tables:
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
        if store.is_sqlite:
            create_fts(conn)
        create_views(conn)
        for column in sorted(NEW_COLUMNS):
            conn.execute(text(f"ALTER TABLE crawl_runs DROP COLUMN {column}"))
        conn.execute(text("DROP INDEX ix_articles_source_sort"))
    return store


# --- the store's contents, read and written through the baseline's tables ---------------


def copy_rows(source: Store, target: Store) -> None:
    """Every row of the crawled store into ``target``, column by column of the baseline."""
    with source.engine.connect() as reading, target.engine.begin() as writing:
        for table in baseline.metadata.sorted_tables:
            model = SQLModel.metadata.tables[table.name]  # reads datetimes back in UTC
            rows = reading.execute(select(*(model.c[c.name] for c in table.c))).mappings().all()
            if rows:
                writing.execute(table.insert(), [dict(row) for row in rows])
        _follow_serials(writing)


def add_history(target: Store) -> None:
    """Alert history, a digest, the outbox, the scheduler's lock and jobs, a crawl error."""
    t = baseline.metadata.tables
    with target.engine.begin() as conn:
        article_id, story_id = conn.execute(
            text("SELECT article_id, story_id FROM article_stories ORDER BY article_id LIMIT 1")
        ).one()
        run_id = conn.execute(text("SELECT max(id) FROM crawl_runs")).scalar_one()
        conn.execute(
            t["alerts"].insert(),
            {
                "rule": "temu",
                "story_id": story_id,
                "article_id": article_id,
                "entity": "Temu",
                "title": "Temu’s GMV doubles",
                "sentence": "Temu said its GMV doubled.",
                "url": "http://127.0.0.1/a",
                "source": "shop-signal",
                "outlets": 2,
                "reason": "entity Temu",
                "fired_at": AT,
            },
        )
        conn.execute(
            t["alert_checks"].insert(),
            {"article_id": article_id, "content_hash": "abc", "checked_at": AT},
        )
        digest = {"key": "2026-11-03|a@example.org", "day": "2026-11-03", "subject": "Digest"}
        conn.execute(
            t["digests"].insert(), {**digest, "articles": 9, "stories": 4, "created_at": AT}
        )
        conn.execute(
            t["deliveries"].insert(),
            {
                "key": "alert|temu|1|smtp",
                "kind": "alert",
                "ref": 1,
                "channel": "smtp",
                "recipients": ["a@example.org"],
                "subject": "Temu",
                "body": "Temu’s GMV doubles",
                "message": b"\x00raw email",
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": AT,
                "created_at": AT,
                "sent_at": AT,
            },
        )
        conn.execute(
            t["locks"].insert(),
            {
                "name": "scheduler",
                "owner": "x",
                "host": "h",
                "pid": 42,
                "acquired_at": AT,
                "renewed_at": AT,
            },
        )
        conn.execute(
            t["job_runs"].insert(),
            {"job": "news", "started_at": AT, "finished_at": AT, "status": "completed"},
        )
        conn.execute(
            t["crawl_errors"].insert(),
            {
                "run_id": run_id,
                "url": "http://127.0.0.1/x",
                "kind": "http",
                "message": "503",
                "at": AT,
            },
        )


def _follow_serials(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for table in baseline.metadata.sorted_tables:
        if "id" in table.c and table.c.id.primary_key:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table.name}))"
                )
            )


def contents(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every baseline table (its baseline columns), in primary-key order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as conn:
        for table in baseline.metadata.sorted_tables:
            model = SQLModel.metadata.tables[table.name]
            columns = [model.c[c.name] for c in table.c]
            order = [model.c[c.name] for c in table.primary_key.columns]
            found[table.name] = [tuple(r) for r in conn.execute(select(*columns).order_by(*order))]
    return found


def view_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {v: conn.execute(text(f"SELECT count(*) FROM {v}")).scalar_one() for v in VIEW_NAMES}


def columns_of(store: Store, table: str) -> set[str]:
    return {c["name"] for c in inspect(store.engine).get_columns(table)}


def index_names(store: Store, table: str) -> set[str]:
    with warnings.catch_warnings():  # SQLite cannot reflect ix_people_org_lower's expression
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        return {i["name"] for i in inspect(store.engine).get_indexes(table) if i["name"]}


# --- (a) a store at the baseline, with data, upgraded to head ----------------------------


@pytest.fixture(scope="module")
def crawled_store(crawled: CrawledWorld) -> Iterator[Store]:
    store = open_store(f"sqlite:///{crawled.config.parent / 'shopwatch.db'}", create=False)
    yield store
    store.close()


def test_upgrading_a_baseline_store_with_data_loses_nothing_and_adds_the_columns(
    new_database: Backend, crawled_store: Store
) -> None:
    store = at_revision(new_database(), BASELINE)
    try:
        copy_rows(crawled_store, store)
        add_history(store)
        assert NEW_COLUMNS.isdisjoint(columns_of(store, "crawl_runs"))
        before, views_before = contents(store), view_counts(store)
        for table in ("articles", "article_entities", "figures", "events", "endpoints"):
            assert before[table], f"the crawled store has no {table} to migrate"
        assert len(before["crawl_runs"]) == 2 and before["alerts"] and before["deliveries"]

        done = store.upgrade()

        assert (done.before, done.after, done.adopted) == (BASELINE, HEAD, False)
        assert contents(store) == before
        assert view_counts(store) == views_before
        assert columns_of(store, "crawl_runs") >= NEW_COLUMNS
        with store.read() as session:  # the model reads old runs, which have no owner
            runs = latest_runs(session, 10)
        assert [(r.pid, r.host) for r in runs] == [(None, None)] * 2
        with store.write() as session:  # and a new run records its process
            run_id = start_run(session, ["shop-signal"])
        with store.read() as session:
            run = session.get(CrawlRun, run_id)
            assert run is not None and run.pid is not None and run.host
        if store.is_sqlite:  # the full-text index still answers, for old rows and new
            assert_fts_finds_articles(store)
    finally:
        store.close()


def assert_fts_finds_articles(store: Store) -> None:
    with Session(store.engine) as session:
        titles = session.execute(text("SELECT id, title FROM articles")).all()
        for article_id, title in titles[:5]:
            word = max(title.split(), key=len).strip("\"'“”‘’:,.?!")
            hits = session.execute(
                text("SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q"),
                {"q": '"' + word.replace('"', '""') + '"'},
            ).scalars()
            assert article_id in set(hits), (title, word)


# --- (b) a store made before migrations -------------------------------------------------


def test_a_store_made_before_migrations_is_stamped_and_upgraded(new_database: Backend) -> None:
    url = new_database()
    legacy = make_premigration(url)
    run = {"started_at": AT, "status": "completed", "sources": ["a"], "per_source": {}}
    with legacy.engine.begin() as conn:
        counts = {"fetched": 3, "new": 2, "updated": 1, "skipped": 0, "failed": 0}
        conn.execute(baseline.metadata.tables["crawl_runs"].insert(), {**run, **counts})
    with legacy.engine.connect() as conn:
        assert stored_revision(conn) is None and "ix_articles_source_sort" not in index_names(
            legacy, "articles"
        )
    legacy.close()

    store = open_store(url, 5)  # what every command does
    try:
        assert store.revision() == HEAD
        assert columns_of(store, "crawl_runs") >= NEW_COLUMNS
        assert "ix_articles_source_sort" in index_names(store, "articles")
        with store.read() as session:
            (run,) = latest_runs(session)
        assert (run.status, run.sources, run.new, run.pid) == ("completed", ["a"], 2, None)
        assert store.upgrade().changed is False  # idempotent: nothing left to do
    finally:
        store.close()


def test_a_store_at_an_unknown_revision_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    store = open_store(url)
    with store.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(StoreError, match=r"revision 9999.*does not know.*upgrade shopwatch"):
        open_store(url).close()


# --- several processes at once, and what opening an up-to-date store costs ---------------

_OPENER = """
import pathlib, sys, time
from storage.engine import open_store
go = pathlib.Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
open_store(sys.argv[1], 10).close()
"""


@pytest.mark.fault(12)
def test_processes_upgrading_one_store_at_once_all_succeed(
    new_database: Backend, tmp_path: Path
) -> None:
    for start in (None, BASELINE):  # a new store, then one at the baseline
        url = new_database()
        if start is not None:
            at_revision(url, start).close()
        go = tmp_path / f"go-{start}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPENER, url, str(go)],
                cwd=REPO,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        try:
            go.touch()
            errors = [proc.communicate(timeout=120)[1] for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert [proc.returncode for proc in procs] == [0, 0, 0], errors
        store = Store(url)
        assert store.revision() == HEAD and columns_of(store, "crawl_runs") >= NEW_COLUMNS
        store.close()


def test_opening_an_up_to_date_store_only_reads_its_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    open_store(url).close()
    probe = (
        "import sys\nfrom storage.engine import open_store\n"
        f"open_store({url!r}).close()\nprint('alembic' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr


# --- (c) shopwatch db current, db upgrade, init ------------------------------------------


def _config(folder: Path, url: str) -> Path:
    path = folder / "shopwatch.toml"
    path.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    return path


def test_db_current_and_upgrade_through_the_cli(new_database: Backend, tmp_path: Path) -> None:
    url = new_database()
    config = _config(tmp_path, url)
    missing = run_cli("db", "current", config=config)
    assert missing.code == 1 and "no shopwatch store" in missing.err

    at_revision(url, BASELINE).close()
    behind = run_cli("db", "current", config=config)
    assert behind.code == 0, behind.err
    assert (
        behind.out.strip() == f"{BASELINE} (not head: head is {HEAD}; run `shopwatch db upgrade`)"
    )
    assert run_cli("db", "current", "--json", config=config).json() == {
        "revision": BASELINE,
        "head": HEAD,
        "is_head": False,
    }

    upgraded = run_cli("db", "upgrade", config=config)
    assert upgraded.code == 0, upgraded.err
    assert upgraded.out.strip().endswith(f": upgraded from {BASELINE} to {HEAD}")
    again = run_cli("db", "upgrade", "--json", config=config)
    assert again.json() == {"from": HEAD, "to": HEAD, "adopted": False, "head": HEAD}
    assert run_cli("db", "current", config=config).out.strip() == f"{HEAD} (head)"


def test_db_upgrade_creates_a_new_store_and_adopts_an_old_one(tmp_path: Path) -> None:
    new = _config(tmp_path, f"sqlite:///{tmp_path / 'new.db'}")
    created = run_cli("db", "upgrade", config=new)
    assert created.code == 0, created.err
    assert created.out.strip().endswith(f"upgraded from none (new store) to {HEAD}")

    old_folder = tmp_path / "old"
    old_folder.mkdir()
    make_premigration(f"sqlite:///{old_folder / 'old.db'}").close()
    old = _config(old_folder, f"sqlite:///{old_folder / 'old.db'}")
    assert run_cli("db", "current", config=old).out.startswith("none: made before migrations")
    adopted = run_cli("db", "upgrade", "--json", config=old)
    assert adopted.json() == {"from": None, "to": HEAD, "adopted": True, "head": HEAD}


def test_init_creates_the_store_at_head(tmp_path: Path) -> None:
    config = tmp_path / "shopwatch.toml"
    done = run_cli("init", config=config)
    assert done.code == 0, done.err
    assert run_cli("db", "current", "--json", config=config).json()["is_head"] is True
    assert (tmp_path / "shopwatch.db").exists()


# --- (d) models, views and FTS of the code against the migrated schema --------------------


def schema_differences(store: Store, metadata: MetaData) -> list[Any]:
    """What Alembic's autogenerate would write to turn the store into ``metadata``."""
    with warnings.catch_warnings(), store.engine.connect() as conn:
        # neither side of ix_people_org_lower's expression can be compared on SQLite
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        context = MigrationContext.configure(
            conn,
            opts={
                "include_object": include_object,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, metadata))


def test_migrations_build_exactly_the_models(new_database: Backend) -> None:
    store = open_store(new_database(), 5)
    try:
        assert schema_differences(store, SQLModel.metadata) == []
    finally:
        store.close()


def test_the_comparison_sees_a_model_the_migrations_lack(new_database: Backend) -> None:
    store = at_revision(new_database(), BASELINE)
    try:
        assert schema_differences(store, baseline.metadata) == []
        added = schema_differences(store, SQLModel.metadata)
        assert sorted((d[0], d[2], d[3].name) for d in added) == [
            ("add_column", "crawl_runs", "host"),
            ("add_column", "crawl_runs", "pid"),
        ]
    finally:
        store.close()


def test_migrated_views_and_fts_are_the_code_s_definitions(new_database: Backend) -> None:
    store = open_store(new_database(), 5)
    try:
        with store.engine.connect() as conn:
            if store.is_sqlite:
                listed = text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
                stored = {name: sql for name, sql in conn.execute(listed)}
                for name in VIEW_NAMES:
                    assert stored[name] == f"CREATE VIEW {name} AS {view_sql(name, 'sqlite')}"
                for statement in FTS_DDL:
                    name = statement.split(" IF NOT EXISTS ", 1)[1].split()[0]
                    assert stored[name] == statement.replace(" IF NOT EXISTS", "", 1), name
            else:
                for name in VIEW_NAMES:  # PostgreSQL's own rendering of both, side by side
                    conn.execute(
                        text(f"CREATE TEMP VIEW code_{name} AS {view_sql(name, 'postgresql')}")
                    )
                    ours, code = (
                        conn.execute(text(f"SELECT pg_get_viewdef('{v}'::regclass)")).scalar_one()
                        for v in (name, f"code_{name}")
                    )
                    assert ours == code, name
                conn.rollback()
    finally:
        store.close()


def test_head_is_the_newest_revision_of_one_line() -> None:
    assert known_revisions() == [BASELINE, "0002", HEAD]


# --- (e) revision 0003: PostgreSQL's search column, nothing on SQLite ---------------------


def test_the_search_column_is_postgresql_s_and_filled_for_old_rows_and_new(
    new_database: Backend, crawled_store: Store
) -> None:
    store = at_revision(new_database(), "0002")
    try:
        copy_rows(crawled_store, store)
        store.upgrade()
        articles = columns_of(store, "articles")
        indexes = index_names(store, "articles")
        if store.is_sqlite:  # FTS5 (revision 0001) serves SQLite: the revision changes nothing
            assert "search_vector" not in articles
            assert NOT_MODELLED_INDEXES.isdisjoint(indexes)
            return
        assert "search_vector" in articles and indexes >= NOT_MODELLED_INDEXES
        with store.engine.connect() as conn:
            empty = (
                "SELECT count(*) FROM articles WHERE search_vector IS NULL OR search_vector = ''"
            )
            assert conn.execute(text(empty)).scalar_one() == 0
            gin = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_articles_search_vector'"
            assert "USING gin (search_vector)" in conn.execute(text(gin)).scalar_one()
        with store.write() as session:  # the ORM writes articles as before; PostgreSQL the vector
            session.execute(text("UPDATE articles SET title = 'Zalando widens its lead'"))
        with store.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT count(*) FROM articles "
                    "WHERE search_vector @@ plainto_tsquery('english', 'widening')"
                )
            ).scalar_one()
            assert found == len(contents(store)["articles"])
    finally:
        store.close()
