"""Storage stage: finding articles (full-text search and filtered listing), newest first or ranked.

One named query function, :func:`find_articles`, serves the CLI, and later the
web app and the digest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, text
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

from shopwatch.errors import UsageError
from storage.articles import as_utc
from storage.enrichment import watched_name
from storage.fts import quote_fts_query

Order = Literal["newest", "relevance"]
# where a snippet's matched terms start and end (shown as [term] by the CLI, <mark> on the web)
MARK_START, MARK_END = "\x02", "\x03"


@dataclass(frozen=True)
class ArticleQuery:
    q: str | None = None
    entity: str | None = None
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    language: str | None = None
    event: str | None = None  # only articles with an event of this type
    limit: int = 20
    offset: int = 0
    order: Order = "newest"


@dataclass
class ArticleHit:
    id: int
    url: str
    canonical_url: str
    title: str
    source: str
    author: str | None
    published_at: datetime | None
    fetched_at: datetime
    language: str | None
    text: str
    snippet: str | None = None
    entities: list[str] = field(default_factory=list)


_COLUMNS = (
    "a.id, a.url, a.canonical_url, a.title, a.source, a.author, a.published_at, "
    "a.fetched_at, a.language, a.text"
)


def _filters(query: ArticleQuery, params: dict[str, Any]) -> list[str]:
    where: list[str] = []
    if query.sources:
        where.append("a.source IN :sources")
        params["sources"] = list(query.sources)
    if query.since:
        where.append("a.sort_at >= :since")
        params["since"] = as_utc(query.since)
    if query.until:
        where.append("a.sort_at < :until")
        params["until"] = as_utc(query.until)
    if query.language:
        where.append("a.language = :language")
        params["language"] = query.language
    if query.event:
        where.append(
            "EXISTS (SELECT 1 FROM events v WHERE v.article_id = a.id AND v.type = :event)"
        )
        params["event"] = query.event
    if query.entity:
        where.append(
            "EXISTS (SELECT 1 FROM article_entities e WHERE e.article_id = a.id "
            "AND e.label = 'WATCH' AND e.name = :entity)"
        )
        params["entity"] = query.entity
    return where


# A query matching more articles than this is not answered by sorting all its hits:
# newest first walks the articles by date and checks each against the index until the
# page is full; ranked, it ranks only this many most recently stored matches.
CANDIDATES = 2_000

_PAGE_COLUMNS = "snippet(articles_fts, 1, char(2), char(3), ' … ', 12) AS snippet"


def _listing(query: ArticleQuery, where: list[str]) -> str:
    if query.order == "relevance":
        raise UsageError("ordering by relevance needs a search query")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT {_COLUMNS}, NULL AS snippet FROM articles a{clause} "
        "ORDER BY a.sort_at DESC, a.id DESC LIMIT :limit OFFSET :offset"
    )


def _page_ids(query: ArticleQuery, where: list[str], common: bool) -> tuple[str, str]:
    """The SQL of the page's ids for a full-text query, and the order to keep them in."""
    newest = "a.sort_at DESC, a.id DESC"
    if query.order != "relevance":
        if common:  # by date, each article checked against the index, until the page is full
            match = (
                "EXISTS (SELECT 1 FROM articles_fts WHERE articles_fts.rowid = a.id "
                "AND articles_fts MATCH :match)"
            )
            clause = " AND ".join([match, *where])
            return (
                f"SELECT a.id AS id FROM articles a WHERE {clause} "
                f"ORDER BY {newest} LIMIT :limit OFFSET :offset"
            ), newest
        clause = " AND ".join(["articles_fts MATCH :match", *where])
        return (
            "SELECT a.id AS id FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid "
            f"WHERE {clause} ORDER BY {newest} LIMIT :limit OFFSET :offset"
        ), newest
    rank = "bm25(articles_fts, 10.0, 1.0)"
    joined = " AND ".join(["articles_fts MATCH :match", *where])
    source = (
        "articles_fts JOIN articles a ON a.id = articles_fts.rowid" if where else "articles_fts"
    )
    bound = " ORDER BY articles_fts.rowid DESC LIMIT :candidates" if common else ""
    return (
        f"SELECT id FROM (SELECT articles_fts.rowid AS id, {rank} AS score FROM {source} "
        f"WHERE {joined}{bound}) ORDER BY score, id DESC LIMIT :limit OFFSET :offset"
    ), f"{rank}, a.id DESC"


def _sql(query: ArticleQuery, params: dict[str, Any], *, common: bool = False) -> str:
    """The page of results as SQL: ids first, then the columns and snippets of that page only.

    SQLite computes a result column for every row it sorts, so the snippets
    (the costly part) are made in an outer query over the page's ids. A
    ``common`` query (more than :data:`CANDIDATES` hits) is not sorted whole:
    see :data:`CANDIDATES`.
    """
    where = _filters(query, params)
    params["limit"], params["offset"] = query.limit, query.offset
    if query.q is None or not query.q.strip():
        return _listing(query, where)
    params["match"] = quote_fts_query(query.q)
    params["candidates"] = max(CANDIDATES, query.offset + query.limit)
    page, order = _page_ids(query, where, common)
    return (  # the page's rows again, looked up by id, in the same order, with snippets
        f"SELECT {_COLUMNS}, {_PAGE_COLUMNS} "
        f"FROM ({page}) p JOIN articles a ON a.id = p.id "
        "JOIN articles_fts ON articles_fts.rowid = p.id "
        f"WHERE articles_fts MATCH :match ORDER BY {order}"
    )


def _is_common(session: Session, match: str) -> bool:
    """Whether ``match`` has more than :data:`CANDIDATES` hits (counting stops there)."""
    statement = text(
        "SELECT count(*) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :match "
        "LIMIT :over)"
    )
    found = session.connection().execute(statement, {"match": match, "over": CANDIDATES + 1})
    return int(found.scalar_one()) > CANDIDATES


def find_articles(session: Session, query: ArticleQuery) -> list[ArticleHit]:
    """Articles matching ``query``: full-text when ``query.q`` is given, else all, newest first."""
    if query.limit < 1:
        raise UsageError("limit must be at least 1")
    if query.q is not None and query.q.strip() and not quote_fts_query(query.q):
        return []  # only punctuation: no word can match
    if query.entity:  # compared as stored, so each article costs one key lookup
        stored = watched_name(session, query.entity)
        if stored is None:
            return []
        query = replace(query, entity=stored)
    params: dict[str, Any] = {}
    searching = query.q is not None and bool(query.q.strip())
    common = searching and _is_common(session, quote_fts_query(query.q or ""))
    statement = text(_sql(query, params, common=common))
    binds = [bindparam(name, type_=UTCDateTime()) for name in ("since", "until") if name in params]
    if "sources" in params:
        binds.append(bindparam("sources", expanding=True))
    typed = statement.bindparams(*binds).columns(
        published_at=UTCDateTime(), fetched_at=UTCDateTime()
    )
    rows = session.connection().execute(typed, params).mappings().all()
    hits = [ArticleHit(**dict(row)) for row in rows]
    _attach_entities(session, hits)
    return hits


def _attach_entities(session: Session, hits: list[ArticleHit]) -> None:
    if not hits:
        return
    by_id = {hit.id: hit for hit in hits}
    statement = text(
        "SELECT article_id, name FROM article_entities WHERE article_id IN :ids "
        "AND label = 'WATCH' "
        "ORDER BY article_id, count DESC, name"
    ).bindparams(bindparam("ids", expanding=True))
    for article_id, name in session.connection().execute(statement, {"ids": list(by_id)}):
        if name not in by_id[article_id].entities:
            by_id[article_id].entities.append(name)


ARTICLE_FIELDS = (
    "id",
    "url",
    "title",
    "source",
    "author",
    "published_at",
    "fetched_at",
    "language",
    "entities",
)


def article_record(hit: ArticleHit, *, full: bool) -> dict[str, Any]:
    """The public shape of a hit (the CLI's json and csv, the API): no text unless ``full``."""
    record = {key: value for key, value in asdict(hit).items() if key in ARTICLE_FIELDS}
    if hit.snippet is not None:
        record["snippet"] = hit.snippet.replace(MARK_START, "[").replace(MARK_END, "]")
    if full:
        record["text"] = hit.text
    return record
