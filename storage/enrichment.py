"""Storage stage: enrichment results (entities, figures, events, people) and the queries over them.

An article's derived rows are replaced in one transaction, so re-enriching
never duplicates them; the ``enrichments`` row records the content hash the
rows came from, so only new and changed articles are enriched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
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
    connection = session.connection()  # Core executemany: one statement per table, not per row
    for kind, rows in batches.items():
        if rows:
            connection.execute(insert(kind.__table__), rows)  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    connection.execute(
        insert(EnrichmentRecord.__table__),  # type: ignore[attr-defined]
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


def _newest_articles(
    session: Session, table: Any, query: FactQuery, where: Sequence[Any], count: int
) -> list[int]:
    """The ``count`` newest articles with a matching row in ``table``, walked by date.

    The walk follows the articles' date index and stops after ``count``, so a
    common entity costs no more than a rare one costs to find.
    """
    match = select(table.id).where(col(table.article_id) == col(Article.id), *where)
    statement = _article_filters(select(Article.id).where(match.exists()), query)
    statement = statement.order_by(col(Article.sort_at).desc(), col(Article.id).desc())
    return [int(i) for i in session.exec(statement.limit(count)).all() if i is not None]


def _entity_is(session: Session, table: Any, entity: str) -> Any:
    """``table.entity`` is ``entity`` in any case: a watched name is compared as stored."""
    stored = watched_name(session, entity)
    if stored is not None:
        return col(table.entity) == stored  # (can use the index)
    return func.lower(table.entity) == entity.lower()


def _facts(session: Session, table: Any, query: FactQuery, *where: Any) -> list[dict[str, Any]]:
    """Rows of a fact table (figures, events), newest article first, with its url and date."""
    newest_first = query.order not in ("value", "metric") or table is not FigureRow
    if query.entity:
        # walking articles by date, the entity is checked per row (unindexed), so each
        # lookup goes by article; sorting by value, its own index finds the rows
        where = (
            *where,
            func.lower(table.entity) == query.entity.lower()
            if newest_first
            else _entity_is(session, table, query.entity),
        )
    statement = (
        select(table, Article.url, Article.sort_at, Article.source)
        .join(Article, col(Article.id) == col(table.article_id))
        .where(*where)
    )
    statement = _article_filters(statement, query)
    newest = (col(Article.sort_at).desc(), col(table.article_id).desc(), col(table.start))
    skip = query.offset
    if newest_first:  # each article has one matching row or more: offset + limit are enough
        ids = _newest_articles(session, table, query, where, query.offset + query.limit)
        statement = statement.where(col(table.article_id).in_(ids)).order_by(*newest)
        rows = session.exec(statement).all()[skip : skip + query.limit]
        return [_fact(*row) for row in rows]
    if query.order == "value":
        statement = statement.order_by(col(FigureRow.value).desc(), *newest)
    else:
        statement = statement.order_by(col(FigureRow.metric), *newest)
    statement = statement.limit(query.limit).offset(skip)
    return [_fact(*row) for row in session.exec(statement).all()]


def _fact(row: Any, url: str, at: datetime, source: str) -> dict[str, Any]:
    return {**row.model_dump(), "url": url, "published_at": at, "source": source}


def find_figures(session: Session, query: FactQuery) -> list[dict[str, Any]]:
    """Figures, newest article first, with their article's url and date."""
    metric = [func.lower(FigureRow.metric) == query.metric.lower()] if query.metric else []
    return _facts(session, FigureRow, query, *metric)


def find_events(session: Session, query: FactQuery) -> list[dict[str, Any]]:
    """Events, newest article first, with their article's url and date."""
    # compared through an expression, not the column: SQLite would otherwise check each
    # article of the walk against every event of the type (its index), not the article's
    kind = [func.coalesce(EventRow.type, "") == query.type] if query.type else []
    return _facts(session, EventRow, query, *kind)


def watched_name(session: Session, name: str) -> str | None:
    """The watched entity's name as stored, whatever the case ``name`` is written in."""
    for same in (col(ArticleEntity.name) == name, func.lower(ArticleEntity.name) == name.lower()):
        found = session.exec(
            select(ArticleEntity.name).where(ArticleEntity.label == "WATCH", same).limit(1)
        ).first()
        if found is not None:  # (the exact spelling is one index lookup; any case, a scan)
            return found
    return None


def mentioning(name: str) -> Any:
    """A subquery to put under ``exists()``: the article (``articles`` row) mentions ``name``.

    Every key column is compared for equality, so each article costs one index lookup.
    """
    return select(ArticleEntity.article_id).where(
        col(ArticleEntity.article_id) == col(Article.id),
        ArticleEntity.label == "WATCH",
        ArticleEntity.name == name,
    )


class Interval(StrEnum):
    """How mention counts are bucketed."""

    day = "day"
    week = "week"


def _period(session: Session, interval: str) -> Any:
    """The day (or the Monday of the ISO week) of an article's ``sort_at``, in UTC."""
    if session.connection().dialect.name == "postgresql":
        day = func.timezone("UTC", Article.sort_at)  # a timestamptz's date follows the session's
        if interval == "day":
            return func.date(day)
        return func.date(func.date_trunc("week", day))  # PostgreSQL's weeks start on Monday
    if interval == "day":
        return func.date(Article.sort_at)
    return func.date(Article.sort_at, "weekday 0", "-6 days")  # the week's Monday


def mention_counts(
    session: Session,
    *,
    entity: str | None,
    since: datetime | None,
    interval: str,
    stories: bool = False,
) -> list[dict[str, Any]]:
    """Articles (or stories, each once) mentioning each watched entity, per day or ISO week.

    For one entity since a date, the count walks the articles of the period
    (their date index) and checks each for the entity, instead of every mention
    the entity ever had; with no date, it reads the entity's mentions and looks
    each article up, instead of checking every article in the store.
    """
    if entity:
        return _entity_mentions(session, entity, since, interval, stories)
    period = _period(session, interval)
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
    if since:
        statement = statement.where(col(Article.sort_at) >= as_utc(since))
    return [
        {"entity": name, "period": str(when), "count": count}
        for name, when, count in session.exec(statement).all()
    ]


def _entity_mentions(
    session: Session, entity: str, since: datetime | None, interval: str, stories: bool
) -> list[dict[str, Any]]:
    name = watched_name(session, entity)
    if name is None:
        return []
    period = _period(session, interval)
    counted = (
        func.count(func.distinct(ArticleStory.story_id)) if stories else func.count(col(Article.id))
    )
    statement: Any
    if since:  # the period's articles (their date index), each checked for the entity
        statement = select(period, counted).where(
            mentioning(name).exists(), col(Article.sort_at) >= as_utc(since)
        )
    else:  # every mention: the entity's own rows (its index), each article looked up by id
        statement = (
            select(period, counted)
            .select_from(ArticleEntity)
            .join(Article, col(Article.id) == col(ArticleEntity.article_id))
            .where(ArticleEntity.label == "WATCH", ArticleEntity.name == name)
        )
    if stories:
        statement = statement.join(ArticleStory, col(ArticleStory.article_id) == col(Article.id))
    statement = statement.group_by(period).order_by(period)
    return [
        {"entity": name, "period": str(when), "count": count}
        for when, count in session.execute(statement).all()
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
    """The people articles named with a role at ``org`` (any case), most recently stored first.

    ``last_seen`` is the date of the latest article naming them so.
    """
    latest = func.max(PersonRoleRow.article_id)
    statement = (
        select(PersonRoleRow.name, PersonRoleRow.role, latest, func.count())
        .where(func.lower(PersonRoleRow.org) == org.lower())
        .group_by(PersonRoleRow.name, PersonRoleRow.role)
        .order_by(latest.desc(), col(PersonRoleRow.name))
        .limit(limit)
    )
    rows = session.exec(statement).all()
    dates = dict(
        session.exec(
            select(Article.id, Article.sort_at).where(col(Article.id).in_([r[2] for r in rows]))
        ).all()
    )
    return [
        {"name": name, "role": role, "last_seen": as_utc(dates.get(last)), "articles": n}
        for name, role, last, n in rows
    ]


def watched_entities(session: Session) -> list[dict[str, Any]]:
    """Every watched entity the store has seen: articles mentioning it and the latest one."""
    statement = (
        select(ArticleEntity.name, func.count())
        .where(ArticleEntity.label == "WATCH")
        .group_by(ArticleEntity.name)
        .order_by(col(ArticleEntity.name))
    )
    return [
        {"name": name, "articles": n, "last_seen": _last_seen(session, name)}
        for name, n in session.exec(statement).all()
    ]


def _last_seen(session: Session, name: str) -> datetime | None:
    """The date of the newest article mentioning ``name``, walking the date index."""
    newest = (
        select(Article.sort_at)
        .where(mentioning(name).exists())
        .order_by(col(Article.sort_at).desc())
        .limit(1)
    )
    return as_utc(session.exec(newest).first())
