"""Storage stage: enrichment results (entities, figures, events, people) and the queries over them.

An article's derived rows are replaced in one transaction, so re-enriching
never duplicates them; the ``enrichments`` row records the content hash the
rows came from, so only new and changed articles are enriched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from nlp.pipeline import Enrichment
from storage.articles import as_utc
from storage.tables import (
    Article,
    ArticleEntity,
    ArticleStory,
    EnrichmentRecord,
    EventRow,
    FigureRow,
    PersonRoleRow,
)

_DERIVED = (ArticleEntity, FigureRow, EventRow, PersonRoleRow)


@dataclass(frozen=True)
class Pending:
    """An article to enrich. ``text`` is the title, a blank line, then the article text;
    offsets stored are into the article text (``prefix`` characters later)."""

    article_id: int
    content_hash: str
    text: str
    language: str | None
    prefix: int = 0


def pending_articles(
    session: Session, *, everything: bool = False, limit: int = 500, after_id: int = 0
) -> list[Pending]:
    """Articles never enriched or changed since (all of them with ``everything``), by id."""
    statement: Any = (
        sql_select(
            *(
                col(c)
                for c in (
                    Article.id,
                    Article.content_hash,
                    Article.title,
                    Article.text,
                    Article.language,
                )
            )
        )
        .outerjoin(EnrichmentRecord, col(EnrichmentRecord.article_id) == col(Article.id))
        .where(col(Article.id) > after_id)
        .order_by(col(Article.id))
        .limit(limit)
    )
    if not everything:
        statement = statement.where(
            or_(
                col(EnrichmentRecord.article_id).is_(None),
                col(EnrichmentRecord.content_hash) != col(Article.content_hash),
            )
        )
    return [
        Pending(article_id, content_hash, f"{title}.\n\n{text}", language, len(title) + 3)
        for article_id, content_hash, title, text, language in session.execute(statement).all()
    ]


def _rows(item: Pending, result: Enrichment) -> dict[type, list[dict[str, Any]]]:
    """The derived rows of one article, as plain dicts for executemany inserts."""
    offset = item.prefix  # the title's figures and events are restated in the text
    article = item.article_id
    return {
        ArticleEntity: [
            {"article_id": article, "name": m.name, "label": m.label, "count": m.count}
            for m in result.mentions
        ],
        FigureRow: [
            {
                "article_id": article,
                "value": f.value,
                "value_max": f.value_max,
                "unit": f.unit,
                "currency": f.currency,
                "metric": f.metric,
                "change": f.change,
                "period": f.period,
                "entity": f.entity,
                "text": f.text,
                "sentence": f.sentence,
                "start": f.start - offset,
                "end": f.end - offset,
            }
            for f in result.figures
            if f.start >= offset
        ],
        EventRow: [
            {
                "article_id": article,
                "type": e.type,
                "entity": e.entity,
                "persons": e.persons,
                "trigger": e.trigger,
                "sentence": e.sentence,
                "start": e.start - offset,
                "end": e.end - offset,
            }
            for e in result.events
            if e.start >= offset
        ],
        PersonRoleRow: [
            {"article_id": article, "name": p.name, "org": p.org, "role": p.role}
            for p in result.people
        ],
    }


def replace_enrichments(
    session: Session, results: Sequence[tuple[Pending, Enrichment]], model: str
) -> None:
    """Replace every derived row of these articles (call inside a write session)."""
    ids = [item.article_id for item, _ in results]
    for derived in _DERIVED:
        session.execute(delete(derived).where(col(derived.article_id).in_(ids)))
    session.execute(delete(EnrichmentRecord).where(col(EnrichmentRecord.article_id).in_(ids)))
    batches: dict[type, list[dict[str, Any]]] = {table: [] for table in _DERIVED}
    for item, result in results:
        for kind, rows in _rows(item, result).items():
            batches[kind].extend(rows)
    for kind, rows in batches.items():
        if rows:
            session.execute(insert(kind), rows)
    now = datetime.now(UTC)
    session.execute(
        insert(EnrichmentRecord),
        [
            {
                "article_id": item.article_id,
                "content_hash": item.content_hash,
                "model": model,
                "language": result.language,
                "skipped": result.skipped,
                "enriched_at": now,
            }
            for item, result in results
        ],
    )


# the public shapes of a figure and an event (the CLI's json and csv, the API)
FIGURE_FIELDS = (
    "id",
    "article_id",
    "url",
    "published_at",
    "source",
    "entity",
    "metric",
    "value",
    "value_max",
    "unit",
    "currency",
    "change",
    "period",
    "text",
    "sentence",
    "start",
    "end",
)
EVENT_FIELDS = (
    "id",
    "article_id",
    "url",
    "published_at",
    "source",
    "type",
    "entity",
    "persons",
    "trigger",
    "sentence",
    "start",
    "end",
)


@dataclass(frozen=True)
class FactQuery:
    entity: str | None = None
    metric: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0
    order: str = "newest"  # figures also: "value" (largest first) or "metric" (A to Z)


def _article_filters(statement: Any, query: FactQuery) -> Any:
    if query.since:
        statement = statement.where(col(Article.sort_at) >= as_utc(query.since))
    if query.until:
        statement = statement.where(col(Article.sort_at) < as_utc(query.until))
    return statement


def _facts(session: Session, table: Any, query: FactQuery, *where: Any) -> list[dict[str, Any]]:
    """Rows of a fact table (figures, events), newest article first, with its url and date."""
    statement = (
        select(table, Article.url, Article.sort_at, Article.source)
        .join(Article, col(Article.id) == col(table.article_id))
        .where(*where)
    )
    if query.entity:
        statement = statement.where(func.lower(table.entity) == query.entity.lower())
    statement = _article_filters(statement, query)
    newest = (col(Article.sort_at).desc(), col(table.article_id).desc(), col(table.start))
    if query.order == "value" and table is FigureRow:
        statement = statement.order_by(col(FigureRow.value).desc(), *newest)
    elif query.order == "metric" and table is FigureRow:
        statement = statement.order_by(col(FigureRow.metric), *newest)
    else:
        statement = statement.order_by(*newest)
    statement = statement.limit(query.limit).offset(query.offset)
    return [
        {**row.model_dump(), "url": url, "published_at": at, "source": source}
        for row, url, at, source in session.exec(statement).all()
    ]


def find_figures(session: Session, query: FactQuery) -> list[dict[str, Any]]:
    """Figures, newest article first, with their article's url and date."""
    metric = [func.lower(FigureRow.metric) == query.metric.lower()] if query.metric else []
    return _facts(session, FigureRow, query, *metric)


def find_events(session: Session, query: FactQuery) -> list[dict[str, Any]]:
    """Events, newest article first, with their article's url and date."""
    kind = [col(EventRow.type) == query.type] if query.type else []
    return _facts(session, EventRow, query, *kind)


def mention_counts(
    session: Session,
    *,
    entity: str | None,
    since: datetime | None,
    interval: str,
    stories: bool = False,
) -> list[dict[str, Any]]:
    """Articles (or stories, each once) mentioning each watched entity, per day or ISO week."""
    day = func.date(Article.sort_at)
    period = day if interval == "day" else func.date(Article.sort_at, "weekday 0", "-6 days")
    counted = (
        func.count(func.distinct(ArticleStory.story_id))
        if stories
        else func.count(func.distinct(ArticleEntity.article_id))
    )
    statement = (
        select(ArticleEntity.name, period, counted)
        .join(Article, col(Article.id) == col(ArticleEntity.article_id))
        .where(ArticleEntity.label == "WATCH")
        .group_by(ArticleEntity.name, period)
        .order_by(period, ArticleEntity.name)
    )
    if stories:
        statement = statement.join(
            ArticleStory, col(ArticleStory.article_id) == col(ArticleEntity.article_id)
        )
    if entity:
        statement = statement.where(func.lower(ArticleEntity.name) == entity.lower())
    if since:
        statement = statement.where(col(Article.sort_at) >= as_utc(since))
    return [
        {"entity": name, "period": str(when), "count": count}
        for name, when, count in session.exec(statement).all()
    ]


def entities_of(session: Session, article_id: int) -> list[dict[str, Any]]:
    """The entities found in one article, most mentioned first."""
    statement = (
        select(ArticleEntity.name, ArticleEntity.label, ArticleEntity.count)
        .where(ArticleEntity.article_id == article_id)
        .order_by(col(ArticleEntity.count).desc(), col(ArticleEntity.name))
    )
    return [
        {"name": name, "label": label, "count": count}
        for name, label, count in session.exec(statement).all()
    ]


def people_of(session: Session, org: str, limit: int = 50) -> list[dict[str, Any]]:
    """The people articles named with a role at ``org`` (any case), latest mention first."""
    latest = func.max(Article.sort_at)
    statement = (
        select(PersonRoleRow.name, PersonRoleRow.role, latest, func.count())
        .join(Article, col(Article.id) == col(PersonRoleRow.article_id))
        .where(func.lower(PersonRoleRow.org) == org.lower())
        .group_by(PersonRoleRow.name, PersonRoleRow.role)
        .order_by(latest.desc(), col(PersonRoleRow.name))
        .limit(limit)
    )
    return [
        {"name": name, "role": role, "last_seen": as_utc(at), "articles": n}
        for name, role, at, n in session.exec(statement).all()
    ]


def watched_entities(session: Session) -> list[dict[str, Any]]:
    """Every watched entity the store has seen: articles mentioning it and the latest one."""
    latest = func.max(Article.sort_at)
    statement = (
        select(ArticleEntity.name, func.count(func.distinct(ArticleEntity.article_id)), latest)
        .join(Article, col(Article.id) == col(ArticleEntity.article_id))
        .where(ArticleEntity.label == "WATCH")
        .group_by(ArticleEntity.name)
        .order_by(col(ArticleEntity.name))
    )
    return [
        {"name": name, "articles": n, "last_seen": as_utc(at)}
        for name, n, at in session.exec(statement).all()
    ]
