"""A synthetic store of any size: articles about the watched companies, already enriched.

Deterministic (seeded). Each article is about 700 words of real sentence
structure, names one or two watched companies (Zipf-like: Temu and TikTok Shop
most often) and carries figures, an event, people and a story of one to three
outlets, spread over the ``days`` before now. It is written through the
store's own write path (:func:`storage.articles.upsert_articles`,
:func:`storage.enrichment.replace_enrichments`), so the FTS index and every
table look as a real crawl leaves them. Built stores are cached under
``bench/.cache/`` by size.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlmodel import col, select

from bench.world import EPOCH, RARE_TERM, article
from nlp.events import Event
from nlp.figures import Figure
from nlp.people import PersonRole
from nlp.pipeline import Enrichment, Mention
from storage.articles import ArticleData, upsert_articles
from storage.engine import Store, open_store
from storage.enrichment import Pending, replace_enrichments
from storage.fts import create_fts
from storage.maintenance import optimize_search
from storage.tables import Article, ArticleStory, Story

CACHE = Path(__file__).resolve().parent / ".cache"
VERSION = 2
SITES = 20


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class Synthetic:
    path: Path
    articles: int
    rare_term: str  # a word in about one article in 10,000
    url: str = ""  # the store's URL (a PostgreSQL database, or the file's)

    @property
    def store_url(self) -> str:
        return self.url or f"sqlite:///{self.path}"


def _article(n: int, now: datetime, days: int) -> tuple[ArticleData, dict]:
    """Article ``n`` of the synthetic world (:func:`bench.world.article`), as crawled."""
    item = article(n, sites=SITES, days=days)
    url = f"https://synthetic.example/{n}"
    data = ArticleData(
        source=f"outlet-{item.site:02d}",
        url=url,
        canonical_url=url,
        title=item.title,
        text=item.text,
        fetched_at=now,
        published_at=now - (EPOCH - item.published),
        language="en",
    )
    return data, asdict(item.facts)


def _enrichment(text: str, facts: dict) -> Enrichment:
    lead = facts["lead"]
    lead_end = len(lead)
    company, other = facts["company"], facts["other"]
    percent = f"{facts['value']:g}%"
    p_at, g_at = text.find(percent), text.find("$1.2 billion")
    mentions = {company: 4, other: 1} if other != company else {company: 5}
    figures = [
        Figure(
            percent,
            p_at,
            p_at + len(percent),
            facts["value"],
            "percent",
            metric=facts["metric"],
            change="up" if facts["up"] else "down",
            entity=company,
            sentence=facts["lead"],
        ),
        Figure(
            "$1.2 billion",
            g_at,
            g_at + 12,
            1.2e9,
            "currency",
            currency="USD",
            metric="GMV",
            entity=company,
            sentence=facts["lead"],
        ),
    ]
    events = [
        Event(
            facts["event"],
            company,
            facts["move"],
            lead_end + 2,
            lead_end + 40,
            "said",
            [facts["person"]],
        )
    ]
    return Enrichment(
        language="en",
        tokens=len(text.split()),
        mentions=[Mention(name, "WATCH", count) for name, count in mentions.items()]
        + [Mention(facts["person"], "PERSON", 1)],
        figures=figures,
        events=events,
        people=[PersonRole(facts["person"], company, "head of operations")],
    )


def build(
    store: Store,
    count: int,
    *,
    seed: int = 7,
    days: int = 400,
    batch: int = 1_000,
    first: int = 0,
) -> float:
    """Store articles ``first`` to ``first + count``; returns articles stored per second."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    end = first + count
    for start in range(first, end, batch):
        made = [_article(n, now, days) for n in range(start, min(start + batch, end))]
        with store.write() as session:
            upsert_articles(session, [data for data, _ in made])
            stored = session.exec(
                select(Article.canonical_url, Article.id, Article.content_hash).where(
                    col(Article.canonical_url).in_([d.canonical_url for d, _ in made])
                )
            ).all()
            ids = {url: article_id for url, article_id, _ in stored}
            hashes = {url: digest for url, _, digest in stored}
            results = []
            for data, facts in made:
                article_id = ids[data.canonical_url]
                pending = Pending(article_id, hashes[data.canonical_url], data.text, "en", 0)
                results.append((pending, _enrichment(data.text, facts)))
            replace_enrichments(session, results, "synthetic")
            _stories(session, [(ids[d.canonical_url], d) for d, _ in made], rng)
    return count / (time.perf_counter() - started)


def _stories(session: object, items: list[tuple[int, ArticleData]], rng: random.Random) -> None:
    """Group consecutive articles into stories of one to three outlets (Core executemany)."""
    from sqlalchemy import insert
    from sqlmodel import Session

    assert isinstance(session, Session)
    grouped = select(ArticleStory.article_id).where(  # (a resumed bulk build's first rows)
        col(ArticleStory.article_id).in_([i for i, _ in items])
    )
    already = set(session.exec(grouped).all())
    items = [(i, d) for i, d in items if i not in already]
    if not items:
        return
    groups, at = [], 0
    while at < len(items):
        size = rng.choice((1, 1, 1, 2, 3))
        groups.append(items[at : at + size])
        at += size
    firsts = [min(d.published_at for _, d in group if d.published_at) for group in groups]
    table = Story.__table__  # type: ignore[attr-defined]
    ids = (
        session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [{"title": g[0][1].title, "first_at": f} for g, f in zip(groups, firsts, strict=True)],
        )
        .scalars()
        .all()
    )
    session.execute(
        insert(ArticleStory.__table__),  # type: ignore[attr-defined]
        [
            {
                "article_id": i,
                "story_id": story,
                "at": d.published_at or first,
                "keys": [],
                "signature": b"",
            }
            for group, story, first in zip(groups, ids, firsts, strict=True)
            for i, d in group
        ],
    )


def _bulk_build(store: Store, count: int) -> float:
    """Articles and their enrichments first, then the whole FTS index in one pass.

    For the largest stores: the index's triggers are dropped while the rows go
    in (10,000 a transaction, no stories), then ``rebuild`` indexes every
    article at once and the triggers come back, so the store is used as any
    other afterwards. Keeping the index up to date article by article, its
    merges rewrite it over and over: past half a million articles that is
    bound by this machine's disk (the index no longer fits in the page cache).
    ``rebuild`` leaves the index in about ten segments; :func:`synthetic_store`
    then merges them as the service's nightly job does.
    """
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    with store.write() as session:
        for trigger in ("articles_fts_ai", "articles_fts_ad", "articles_fts_au"):
            session.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
    for start in range(0, count, 10_000):
        made = [_article(n, now, 400) for n in range(start, min(start + 10_000, count))]
        with store.write() as session:
            results = upsert_articles(session, [data for data, _ in made])
            replace_enrichments(
                session,
                [
                    (
                        Pending(r.article_id or 0, d.content_hash, d.text, "en", 0),
                        _enrichment(d.text, f),
                    )
                    for r, (d, f) in zip(results, made, strict=True)
                ],
                "synthetic",
            )
        if start % 100_000 == 0:
            print(f"  {start + len(made):,} articles stored", flush=True)
    print("  indexing the text (FTS5 rebuild)…", flush=True)
    with store.write() as session:
        session.execute(text("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')"))
        create_fts(session.connection())  # the triggers again
    return count / (time.perf_counter() - started)


def synthetic_store(count: int, *, rebuild: bool = False, bulk: bool = False) -> Synthetic:
    """The cached synthetic store of ``count`` articles (built on first use).

    ``bulk`` builds it with :func:`_bulk_build` (no stories; for search at a million).
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"synthetic-{count}-v{VERSION}{'-bulk' if bulk else ''}.db"
    if rebuild or not path.exists():
        partial = path.with_suffix(".partial.db")
        for stale in CACHE.glob(partial.name + "*"):
            stale.unlink()
        store = open_store(f"sqlite:///{partial}")
        rate = _bulk_build(store, count) if bulk else build(store, count)
        store.close()
        partial.rename(path)
        print(f"built {path.name}: {count:,} articles at {rate:,.0f} articles/s")
    _optimized(path)
    return Synthetic(path, count, RARE_TERM)


def _optimized(path: Path) -> None:
    """Compact the store's search index, as ``shopwatch run`` does every night.

    A store already compacted takes one step that finds nothing to merge.
    """
    store = open_store(f"sqlite:///{path}")
    try:
        done = optimize_search(store)
    finally:
        store.close()
    if done.steps > 1:
        print(f"  {done.describe()}", flush=True)


def _pg_database(count: int) -> str:
    return f"shopwatch_bench_synthetic_{count}_v{VERSION}"


def _pg_exists(admin: Any, name: str) -> bool:
    with admin.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
    return found is not None


def _pg_complete(admin: Any, name: str, count: int) -> bool:
    """Whether database ``name`` holds a finished build (its ``bench_synthetic`` row)."""
    if not _pg_exists(admin, name):
        return False
    engine = create_engine(f"{PG_SERVER}/{name}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT articles FROM bench_synthetic WHERE version = :v"), {"v": VERSION}
            ).first()
    except Exception:  # no marker table: a build that did not finish
        return False
    finally:
        engine.dispose()
    return row is not None and row[0] == count


BLOCK = 50_000  # articles a bulk build stores at a time, in one of two processes


def _build_block(url: str, first: int) -> int:
    """Store block ``first`` (:data:`BLOCK` articles) and record it as complete."""
    store = open_store(url)
    try:
        build(store, BLOCK, first=first, seed=first + 7)
        with store.write() as session:
            session.execute(text("INSERT INTO bench_blocks VALUES (:first)"), {"first": first})
    finally:
        store.close()
    return first


def _pg_bulk_build(store: Store, count: int) -> float:
    """:func:`build` in blocks, two at a time, with the search indexes made once at the end.

    PostgreSQL computes each article's ``search_vector`` as it is inserted (a
    generated column), one core per connection: two processes insert blocks
    side by side. The GIN index and the date index are dropped first and built
    at the end, in one sorted pass each. A build that was stopped resumes:
    finished blocks are in ``bench_blocks``; a block begun again stores its
    articles again (the same rows) and keeps the stories it had made.
    """
    from concurrent.futures import ProcessPoolExecutor

    started = time.perf_counter()
    with store.write() as session:
        session.execute(text("DROP INDEX IF EXISTS ix_articles_search_vector"))
        session.execute(text("DROP INDEX IF EXISTS ix_articles_sort_at_id"))
        session.execute(text("CREATE TABLE IF NOT EXISTS bench_blocks (first int PRIMARY KEY)"))
        done = set(session.execute(text("SELECT first FROM bench_blocks")).scalars())
    todo = [first for first in range(0, count, BLOCK) if first not in done]
    with ProcessPoolExecutor(2) as pool:
        for number, first in enumerate(pool.map(_build_block, [store.url] * len(todo), todo)):
            print(f"  block {first:,} stored ({len(done) + number + 1} of {count // BLOCK})")
    print("  indexing the text (GIN) and the dates…", flush=True)
    with store.write() as session:
        session.execute(text("SET maintenance_work_mem = '1GB'"))
        session.execute(
            text("CREATE INDEX ix_articles_search_vector ON articles USING gin (search_vector)")
        )
        session.execute(
            text("CREATE INDEX ix_articles_sort_at_id ON articles (sort_at DESC, id DESC)")
        )
    return (count - len(done) * BLOCK) / (time.perf_counter() - started)


def synthetic_postgres(count: int, *, rebuild: bool = False) -> Synthetic:
    """The synthetic store of ``count`` articles in this machine's PostgreSQL (built once).

    It is kept as database ``shopwatch_bench_synthetic_COUNT_vN`` between runs
    (a cache, as the SQLite files are; drop it to reclaim the space). Over
    200,000 articles it is built with :func:`_pg_bulk_build`, and a stopped
    build resumes where it stopped.
    """
    name = _pg_database(count)
    url = f"{PG_SERVER}/{name}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        if rebuild or not _pg_complete(admin, name, count):
            resume = count > 200_000 and not rebuild and _pg_exists(admin, name)
            if not resume:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            store = open_store(url)
            rate = _pg_bulk_build(store, count) if count > 200_000 else build(store, count)
            with store.write() as session:
                session.execute(text("ANALYZE"))
                session.execute(text("CREATE TABLE bench_synthetic (version int, articles int)"))
                session.execute(
                    text("INSERT INTO bench_synthetic VALUES (:v, :n)"), {"v": VERSION, "n": count}
                )
            store.close()
            print(f"built {name}: {count:,} articles at {rate:,.0f} articles/s")
    finally:
        admin.dispose()
    return Synthetic(CACHE / name, count, RARE_TERM, url)
