"""Storage stage: finding articles (full-text search and filtered listing), newest first or ranked.

One named query function, :func:`find_articles`, serves the CLI, the web app and
the digest. On SQLite it searches the FTS5 index (:mod:`storage.fts`); on
PostgreSQL the stored ``tsvector`` of each article (revision 0003), with the same
terms, filters, orders, bound on ranked candidates and snippet marks.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, text
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

from shopwatch.errors import UsageError
from storage.articles import as_utc
from storage.enrichment import watched_name
from storage.fts import quote_fts_query, search_terms

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
            # (the type through an expression: by its index SQLite would read every event of
            # the type for each article, instead of the article's own)
            "EXISTS (SELECT 1 FROM events v WHERE v.article_id = a.id "
            "AND coalesce(v.type, '') = :event)"
        )
        params["event"] = query.event
    if query.entity:
        where.append(
            "EXISTS (SELECT 1 FROM article_entities e WHERE e.article_id = a.id "
            "AND e.label = 'WATCH' AND e.name = :entity)"
        )
        params["entity"] = query.entity
    return where


# A query matching more articles than COMMON is not answered by sorting all its hits:
# newest first walks the articles by date and checks each against the index until the
# page is full; ranked, it ranks only the CANDIDATES most recently stored matches.
COMMON = 2_000
CANDIDATES = 500
# bm25 first counts the articles holding each phrase of the query: it reads every article
# holding all of the phrase's words (and their positions, for a phrase of several). Past
# this many such articles, a ranked query puts title matches first instead (see _page_ids)
RANK_STATISTICS_LIMIT = 20_000

_PAGE_COLUMNS = "snippet(articles_fts, 1, char(2), char(3), ' … ', 12) AS snippet"


def _listing(query: ArticleQuery, where: list[str]) -> str:
    if query.order == "relevance":
        raise UsageError("ordering by relevance needs a search query")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT {_COLUMNS}, NULL AS snippet FROM articles a{clause} "
        "ORDER BY a.sort_at DESC, a.id DESC LIMIT :limit OFFSET :offset"
    )


def _page_ids(
    query: ArticleQuery, where: list[str], common: bool, heavy: bool = False
) -> tuple[str, str]:
    """The SQL of the page's ids for a full-text query, and the order to keep them in.

    Ranked, a ``heavy`` query (one of its phrases in more than
    :data:`RANK_STATISTICS_LIMIT` articles) puts the candidates whose title
    matches first, then the most recently stored.
    """
    newest = "a.sort_at DESC, a.id DESC"
    if query.order != "relevance":
        if common:  # by date, each article checked against the index, until the page is full
            match = (
                "EXISTS (SELECT 1 FROM articles_fts WHERE articles_fts.rowid = a.id "
                "AND articles_fts MATCH :match)"
            )
            clause = " AND ".join([*where, match])  # the index checked last: it costs most
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
    if heavy:  # no bm25: its statistics would read every article holding the common phrase
        return (
            f"WITH c AS (SELECT articles_fts.rowid AS id FROM {source} WHERE {joined} "
            "ORDER BY articles_fts.rowid DESC LIMIT :candidates), "
            "t AS (SELECT rowid AS id FROM articles_fts WHERE articles_fts MATCH :title_match "
            "AND rowid >= (SELECT min(id) FROM c)) "
            "SELECT c.id AS id, (c.id NOT IN (SELECT id FROM t)) AS score FROM c "
            "ORDER BY score, c.id DESC LIMIT :limit OFFSET :offset"
        ), "p.score, a.id DESC"
    bound = " ORDER BY articles_fts.rowid DESC LIMIT :candidates" if common else ""
    return (  # the score goes out with the id: bm25 again outside would redo its statistics
        f"SELECT id, score FROM (SELECT articles_fts.rowid AS id, {rank} AS score FROM {source} "
        f"WHERE {joined}{bound}) ORDER BY score, id DESC LIMIT :limit OFFSET :offset"
    ), "p.score, a.id DESC"


def _sql(
    query: ArticleQuery, params: dict[str, Any], *, common: bool = False, heavy: bool = False
) -> str:
    """The page of results as SQL: ids first, then the columns and snippets of that page only.

    SQLite computes a result column for every row it sorts, so the snippets
    (the costly part) are made in an outer query over the page's ids. A
    ``common`` query (more than :data:`COMMON` hits) is not sorted whole:
    see :data:`COMMON`.
    """
    where = _filters(query, params)
    params["limit"], params["offset"] = query.limit, query.offset
    if query.q is None or not query.q.strip():
        return _listing(query, where)
    params["match"] = quote_fts_query(query.q)
    params["candidates"] = max(CANDIDATES, query.offset + query.limit)
    if heavy and query.order == "relevance":
        params["title_match"] = f"{{title}} : ({params['match']})"
    page, order = _page_ids(query, where, common, heavy and query.order == "relevance")
    return (  # the page's rows again, looked up by id (CROSS JOIN: in this order), with snippets
        f"SELECT {_COLUMNS}, {_PAGE_COLUMNS} "
        f"FROM ({page}) p CROSS JOIN articles a ON a.id = p.id "
        "CROSS JOIN articles_fts ON articles_fts.rowid = p.id "
        f"WHERE articles_fts MATCH :match ORDER BY {order}"
    )


def _hits_over(session: Session, match: str, limit: int) -> bool:
    """Whether ``match`` has more than ``limit`` hits (counting stops there)."""
    statement = text(
        "SELECT count(*) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :match "
        "LIMIT :over)"
    )
    found = session.connection().execute(statement, {"match": match, "over": limit + 1})
    return int(found.scalar_one()) > limit


def _is_common(session: Session, match: str) -> bool:
    """Whether ``match`` has more than :data:`COMMON` hits."""
    return _hits_over(session, match, COMMON)


def _is_heavy(session: Session, match: str) -> bool:
    """Whether bm25's statistics for a phrase of ``match`` would read too many articles.

    That is: whether more than :data:`RANK_STATISTICS_LIMIT` articles hold all
    the words of one of its phrases. The words are counted, not the phrase:
    they are what bm25's count reads, and counting them skips the positions
    (for ``"head of Brazil operations"`` at a million articles, 7 ms instead of 28).
    """
    phrases = re.findall(r'"((?:[^"]|"")*)"', match)
    return any(_hits_over(session, _all_words(phrase), RANK_STATISTICS_LIMIT) for phrase in phrases)


def _all_words(phrase: str) -> str:
    """The FTS5 query for the articles holding every word of a quoted ``phrase``'s inside."""
    return " ".join('"' + word + '"' for word in phrase.split())


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
    if session.connection().dialect.name == "postgresql":
        budget = _pg_walk_budget(session, query.q or "", query) if searching else None
        hits = _hits(session, _pg_sql(query, params, budget=budget), params)
        if budget is not None and len(hits) < query.limit:  # the walk came short: exactly
            params = {}
            hits = _hits(session, _pg_sql(query, params, budget=None), params)
    else:
        match = quote_fts_query(query.q or "")
        common = searching and _is_common(session, match)
        heavy = searching and query.order == "relevance" and _is_heavy(session, match)
        hits = _hits(session, _sql(query, params, common=common, heavy=heavy), params)
    _attach_entities(session, hits)
    return hits


def _hits(session: Session, sql: str, params: dict[str, Any]) -> list[ArticleHit]:
    statement = text(sql)
    binds = [bindparam(name, type_=UTCDateTime()) for name in ("since", "until") if name in params]
    if "sources" in params:
        binds.append(bindparam("sources", expanding=True))
    typed = statement.bindparams(*binds).columns(
        published_at=UTCDateTime(), fetched_at=UTCDateTime()
    )
    rows = session.connection().execute(typed, params).mappings().all()
    return [ArticleHit(**dict(row)) for row in rows]


# --- PostgreSQL: the generated tsvector column articles.search_vector (revision 0003) ---

# ts_headline's options: the marks of the SQLite snippet, about as many words around them
_HEADLINE = (
    f'StartSel="{MARK_START}", StopSel="{MARK_END}", MaxWords=14, MinWords=6, '
    'MaxFragments=1, FragmentDelimiter=" … "'
)
# ts_rank_cd's weights of D, C, B (the text) and A (the title): a title match counts ten
# times a match in the text, as bm25(articles_fts, 10.0, 1.0) weighs them on SQLite
_PG_WEIGHTS = "'{0.1, 0.1, 0.1, 1.0}'"


def pg_tsquery(q: str, params: dict[str, Any]) -> str:
    """The SQL of a ``tsquery`` searching every term of ``q``: each a bound parameter.

    Each term or ``"phrase"`` of :func:`storage.fts.search_terms` goes through
    ``phraseto_tsquery`` (a phrase of its words, as FTS5 reads a quoted term), and
    the terms are ANDed, so nothing the user typed is parsed as tsquery syntax.
    """
    parts = []
    for number, term in enumerate(search_terms(q)):
        params[f"term{number}"] = term
        parts.append(f"phraseto_tsquery('english', :term{number})")
    return "(" + " && ".join(parts) + ")" if parts else "''::tsquery"


# The planner's selectivity for a word its statistics do not hold (DEFAULT_TS_MATCH_SEL)
PG_UNKNOWN_SELECTIVITY = 0.005


def _pg_expected(session: Session, q: str) -> tuple[float, float]:
    """(the hits the planner expects for ``q``, the articles): statistics only, nothing read.

    Unlike SQLite's bounded count, counting on PostgreSQL reads each candidate's
    ``tsvector`` (about 25 µs each), so a count of 2,000 hits of a middling
    word costs more than the page itself.
    """
    params: dict[str, Any] = {}
    tsquery = pg_tsquery(q, params)
    conn = session.connection()
    plan = conn.execute(
        text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM articles a WHERE a.search_vector @@ {tsquery}"),
        params,
    ).scalar_one()
    total = conn.execute(
        text("SELECT greatest(reltuples, 1) FROM pg_class WHERE oid = 'articles'::regclass")
    ).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"]), float(total)


def _pg_walk_budget(session: Session, q: str, query: ArticleQuery) -> int | None:
    """How many of the newest articles a walk may read for ``q``, or None to ask the index.

    A query the planner expects in more than :data:`COMMON` articles, and in more
    than it guesses for an unknown word, walks the newest articles (newest first:
    by date; ranked: the most recently stored) and checks each, stopping when the
    page (ranked: the :data:`CANDIDATES`) is full. The walk may read four times the
    articles the expected share needs; a walk that comes back short (the words are
    rarer together than apart) is asked again through the index, exactly.
    """
    expected, total = _pg_expected(session, q)
    if expected <= max(COMMON, PG_UNKNOWN_SELECTIVITY * total):
        return None
    need = query.offset + query.limit
    if query.order == "relevance":
        need = max(CANDIDATES, need)
    return int(min(max(4 * need * total / expected, COMMON), total))


def _pg_page_ids(query: ArticleQuery, where: list[str], tsquery: str, budget: int | None) -> str:
    """The SQL of the page's ids (and scores) for a full-text query on PostgreSQL."""
    match = f"a.search_vector @@ {tsquery}"
    newest = "a.sort_at DESC, a.id DESC"
    if budget is not None:  # the newest articles, cheap filters first, each then checked
        key = newest if query.order != "relevance" else "a.id DESC"
        cheap = f" WHERE {' AND '.join(where)}" if where else ""
        walk = f"(SELECT * FROM articles a{cheap} ORDER BY {key} LIMIT :budget) a"
        if query.order != "relevance":
            return (
                f"SELECT a.id AS id, 0 AS score FROM {walk} WHERE {match} "
                f"ORDER BY {newest} LIMIT :limit OFFSET :offset"
            )
        rank = f"ts_rank_cd({_PG_WEIGHTS}, a.search_vector, {tsquery})"
        return (
            f"SELECT id, score FROM (SELECT a.id AS id, {rank} AS score FROM {walk} "
            f"WHERE {match} ORDER BY {key} LIMIT :candidates) ranked "
            "ORDER BY score DESC, id DESC LIMIT :limit OFFSET :offset"
        )
    clause = " AND ".join([match, *where])
    if query.order != "relevance":
        # few hits: all of them from the GIN index, then sorted. (Asked in one query, the
        # planner may walk the dates for a word its statistics do not know, reading every
        # article for a handful of hits: 0.8 s at 100,000 articles.)
        return (
            f"WITH hits AS MATERIALIZED (SELECT a.id, a.sort_at FROM articles a WHERE {clause}) "
            "SELECT id, 0 AS score FROM hits "
            "ORDER BY sort_at DESC, id DESC LIMIT :limit OFFSET :offset"
        )
    rank = f"ts_rank_cd({_PG_WEIGHTS}, a.search_vector, {tsquery})"
    return (
        f"SELECT id, score FROM (SELECT a.id AS id, {rank} AS score FROM articles a "
        f"WHERE {clause}) ranked ORDER BY score DESC, id DESC LIMIT :limit OFFSET :offset"
    )


def _pg_sql(query: ArticleQuery, params: dict[str, Any], *, budget: int | None = None) -> str:
    """The page of results on PostgreSQL: ids first, then the columns and snippets of that page.

    With a ``budget`` the page comes from a walk over that many of the newest
    articles (:func:`_pg_walk_budget`); ranked, only the :data:`CANDIDATES` most
    recently stored hits of the walk are ranked, as on SQLite.
    """
    where = _filters(query, params)
    params["limit"], params["offset"] = query.limit, query.offset
    if query.q is None or not query.q.strip():
        return _listing(query, where)
    tsquery = pg_tsquery(query.q, params)
    if budget is not None:
        params["budget"] = budget
        params["candidates"] = max(CANDIDATES, query.offset + query.limit)
    params["headline"] = _HEADLINE
    page = _pg_page_ids(query, where, tsquery, budget)
    order = "p.score DESC, p.id DESC" if query.order == "relevance" else "a.sort_at DESC, a.id DESC"
    return (  # ts_headline reads the whole text: only for the page's rows
        f"SELECT {_COLUMNS}, ts_headline('english', a.text, {tsquery}, :headline) AS snippet "
        f"FROM ({page}) p JOIN articles a ON a.id = p.id ORDER BY {order}"
    )


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
