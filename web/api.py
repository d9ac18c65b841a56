"""Web stage: the JSON API under ``/api/``, read-only, on the CLI's query functions.

Every list takes the CLI's filter names (``q``, ``entity``, ``source``,
``type``, ``metric``, ``since``, ``until``, ``limit``) plus ``offset``, and
answers ``{"items": [...], "limit", "offset", "next"}`` where ``next`` is the
URL of the following page (or null). Every list is also CSV, with
``?format=csv`` or ``Accept: text/csv``, streamed; spreadsheet formulas in the
data are defused (:func:`exports.formats.csv_cell`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from config.model import EVENT_TYPES
from exports.formats import csv_lines
from shopwatch.when import parse_when
from storage.articles import article_counts
from storage.detail import article_detail
from storage.endpoints import Backoff, source_health, source_report
from storage.enrichment import (
    EVENT_FIELDS,
    FIGURE_FIELDS,
    FactQuery,
    Interval,
    find_events,
    find_figures,
    mention_counts,
    people_of,
    watched_entities,
)
from storage.search import ARTICLE_FIELDS, ArticleQuery, article_record, find_articles
from storage.stories import find_stories, get_story
from web.context import read, web_context


class Problem(BaseModel):
    """Why a request could not be answered."""

    detail: str


router = APIRouter(
    prefix="/api",
    tags=["api"],
    responses={
        400: {"model": Problem, "description": "a parameter that cannot be used (a bad date)"},
    },
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "no such"}}

EventType = StrEnum("EventType", {name: name for name in EVENT_TYPES})  # type: ignore[misc]

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000

RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the row's id")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]
Since = Annotated[
    str | None, Query(description="from this date (YYYY-MM-DD, UTC) or ISO date-time")
]
Until = Annotated[str | None, Query(description="up to and including this date")]
Entity = Annotated[str | None, Query(max_length=200, description="a watched entity's name")]
OutputFormat = Annotated[
    Literal["json", "csv"] | None, Query(description="csv, or json (the default)")
]


# --- public shapes -------------------------------------------------------------------------

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list: its items, and the URL of the next page (null on the last)."""

    items: list[Item]
    limit: int
    offset: int
    next: str | None


class ArticleOut(BaseModel):
    id: int
    url: str
    title: str
    source: str
    author: str | None
    published_at: datetime | None
    fetched_at: datetime
    language: str | None
    entities: list[str]
    snippet: str | None = None


class FigureOut(BaseModel):
    id: int
    article_id: int
    url: str
    published_at: datetime | None
    source: str
    entity: str | None
    metric: str
    value: float
    value_max: float | None
    unit: str
    currency: str | None
    change: str
    period: str | None
    text: str
    sentence: str
    start: int
    end: int


class EventOut(BaseModel):
    id: int
    article_id: int
    url: str
    published_at: datetime | None
    source: str
    type: str
    entity: str | None
    persons: list[str]
    trigger: str
    sentence: str
    start: int
    end: int


class StoryArticle(BaseModel):
    id: int
    url: str
    source: str
    title: str
    published_at: datetime | None
    at: datetime


class StoryOut(BaseModel):
    id: int
    title: str
    first_at: datetime
    sources: int
    articles: list[StoryArticle]


class EntityOut(BaseModel):
    id: str
    name: str
    kind: str | None
    parent: str | None
    aliases: list[str]
    articles: int
    last_seen: datetime | None


class MentionOut(BaseModel):
    entity: str
    period: str
    count: int


class EndpointOut(BaseModel):
    url: str
    kind: str
    health: str = Field(description="ok, failing (backing off), broken or gone (410)")
    next_attempt_at: datetime | None
    last_fetched_at: datetime | None
    last_status: int | None
    last_ok_at: datetime | None
    consecutive_errors: int
    last_error: str | None
    last_warning: str | None
    entries: int | None


class SourceOut(BaseModel):
    id: str
    source: str
    configured: bool
    enabled: bool
    articles: int
    last_fetched_at: datetime | None
    consecutive_errors: int
    endpoints: list[EndpointOut]


class PersonOut(BaseModel):
    name: str
    role: str
    last_seen: datetime | None
    articles: int


class ArticleDetail(ArticleOut):
    canonical_url: str
    text: str
    description: str | None
    figures: list[dict[str, Any]]
    events: list[dict[str, Any]]
    mentions: list[dict[str, Any]]
    story_id: int | None


CSV = {"text/csv": {"schema": {"type": "string"}}}


# --- helpers -------------------------------------------------------------------------------


def wants_csv(request: Request, output: str | None) -> bool:
    if output is not None:
        return output == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def next_url(request: Request, limit: int, offset: int, got: int) -> str | None:
    """The URL of the next page, when this one was full."""
    if got < limit or offset + limit > MAX_OFFSET:
        return None
    return str(request.url.include_query_params(offset=offset + limit))


def page(
    request: Request,
    output: str | None,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    limit: int,
    offset: int,
) -> Any:
    """A JSON page of ``rows``, or the rows as a streamed CSV file."""
    if wants_csv(request, output):
        return StreamingResponse(
            csv_lines(rows, columns),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="shopwatch.csv"'},
        )
    return {
        "items": list(rows),
        "limit": limit,
        "offset": offset,
        "next": next_url(request, limit, offset, len(rows)),
    }


def _when(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    return parse_when(value, end_of_day=end, option=name)


# --- routes --------------------------------------------------------------------------------


@router.get("/articles", response_model=Page[ArticleOut], responses={200: {"content": CSV}})
def articles(
    request: Request,
    q: Annotated[str | None, Query(max_length=500, description='words; "a phrase"')] = None,
    entity: Entity = None,
    source: Annotated[list[str] | None, Query(description="repeatable")] = None,
    type: Annotated[EventType | None, Query(description="an event type")] = None,
    language: Annotated[str | None, Query(max_length=20)] = None,
    since: Since = None,
    until: Until = None,
    order: Literal["newest", "relevance"] = "newest",
    limit: Limit = 20,
    offset: Offset = 0,
    format: OutputFormat = None,
) -> Any:
    """Full-text search and listing of articles, newest first or by relevance."""
    query = ArticleQuery(
        q=q,
        entity=entity,
        sources=tuple(source or ()),
        since=_when(since, "since"),
        until=_when(until, "until", end=True),
        language=language,
        event=type.value if type else None,
        limit=limit,
        offset=offset,
        order=order if q and q.strip() else "newest",
    )
    hits = read(request, lambda s: find_articles(s, query))
    rows = [article_record(hit, full=False) for hit in hits]
    return page(request, format, rows, [*ARTICLE_FIELDS, "snippet"], limit, offset)


@router.get("/articles/{article_id}", response_model=ArticleDetail, responses=NOT_FOUND)
def article(request: Request, article_id: RowId) -> Any:
    """One article with its text, entities, figures, events and story."""

    found = read(request, lambda s: article_detail(s, article_id))
    if found is None:
        raise HTTPException(404, f"no article {article_id}")
    return {
        **found.article.model_dump(),
        "entities": found.watched,
        "mentions": found.mentions,
        "figures": [f.model_dump() for f in found.figures],
        "events": [e.model_dump() for e in found.events],
        "story_id": found.story_id,
    }


@router.get("/stories", response_model=Page[StoryOut], responses={200: {"content": CSV}})
def stories(
    request: Request,
    entity: Entity = None,
    since: Since = None,
    min_sources: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Limit = 20,
    offset: Offset = 0,
    format: OutputFormat = None,
) -> Any:
    """Stories newest first, each with its articles earliest first (who reported it first)."""
    since_at = _when(since, "since")
    rows = read(
        request,
        lambda s: find_stories(
            s, since=since_at, min_sources=min_sources, limit=limit, offset=offset, entity=entity
        ),
    )
    if wants_csv(request, format):
        flat = [{**r, "articles": [a["url"] for a in r["articles"]]} for r in rows]
        return page(
            request, format, flat, ["id", "title", "first_at", "sources", "articles"], limit, offset
        )
    return page(request, format, rows, [], limit, offset)


@router.get("/stories/{story_id}", response_model=StoryOut, responses=NOT_FOUND)
def story(request: Request, story_id: RowId) -> Any:
    """One story with every article, earliest first."""
    found = read(request, lambda s: get_story(s, story_id))
    if found is None:
        raise HTTPException(404, f"no story {story_id}")
    return found


def entity_rows(request: Request) -> list[dict[str, Any]]:
    ctx = web_context(request)
    seen = {row["name"]: row for row in read(request, watched_entities)}
    rows = []
    for watch in ctx.settings.watch:
        stored = seen.pop(watch.name, {})
        rows.append(
            {
                "id": watch.name,
                "name": watch.name,
                "kind": watch.kind,
                "parent": watch.parent,
                "aliases": list(watch.aliases),
                "articles": stored.get("articles", 0),
                "last_seen": stored.get("last_seen"),
            }
        )
    for name, stored in sorted(seen.items()):  # in the store, no longer watched
        rows.append(
            {"id": name, "name": name, "kind": None, "parent": None, "aliases": [], **stored}
        )
    return rows


@router.get("/entities", response_model=Page[EntityOut], responses={200: {"content": CSV}})
def entities(
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    format: OutputFormat = None,
) -> Any:
    """The watched entities, with the number of articles mentioning each."""
    rows = entity_rows(request)[offset : offset + limit]
    columns = ["id", "name", "kind", "parent", "aliases", "articles", "last_seen"]
    return page(request, format, rows, columns, limit, offset)


@router.get(
    "/entities/{name}/mentions", response_model=Page[MentionOut], responses={200: {"content": CSV}}
)
def entity_mentions(
    request: Request,
    name: str,
    interval: Interval = Interval.day,
    since: Since = None,
    stories: bool = False,
    limit: Limit = 500,
    offset: Offset = 0,
    format: OutputFormat = None,
) -> Any:
    """Articles (or stories, each once) mentioning the entity per day or ISO week."""
    since_at = _when(since, "since")
    rows = read(
        request,
        lambda s: mention_counts(
            s, entity=name, since=since_at, interval=interval.value, stories=stories
        ),
    )[offset : offset + limit]
    return page(request, format, rows, ["entity", "period", "count"], limit, offset)


@router.get("/entities/{name}/people", response_model=list[PersonOut])
def entity_people(request: Request, name: str) -> Any:
    """People named with a role at the entity, latest first."""
    return read(request, lambda s: people_of(s, name))


class FigureOrder(StrEnum):
    newest = "newest"
    value = "value"
    metric = "metric"


@router.get("/figures", response_model=Page[FigureOut], responses={200: {"content": CSV}})
def figures(
    request: Request,
    entity: Entity = None,
    metric: Annotated[str | None, Query(max_length=100)] = None,
    since: Since = None,
    until: Until = None,
    order: FigureOrder = FigureOrder.newest,
    limit: Limit = 100,
    offset: Offset = 0,
    format: OutputFormat = None,
) -> Any:
    """Money amounts, percentages and counts found in articles."""
    query = FactQuery(
        entity=entity,
        metric=metric,
        since=_when(since, "since"),
        until=_when(until, "until", end=True),
        limit=limit,
        offset=offset,
        order=order.value,
    )
    rows = read(request, lambda s: find_figures(s, query))
    return page(request, format, rows, FIGURE_FIELDS, limit, offset)


@router.get("/events", response_model=Page[EventOut], responses={200: {"content": CSV}})
def events(
    request: Request,
    type: EventType | None = None,
    entity: Entity = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    offset: Offset = 0,
    format: OutputFormat = None,
) -> Any:
    """Leadership, sales, layoffs, hiring, expansion and regulation events, newest first."""
    query = FactQuery(
        entity=entity,
        type=type.value if type else None,
        since=_when(since, "since"),
        until=_when(until, "until", end=True),
        limit=limit,
        offset=offset,
    )
    rows = read(request, lambda s: find_events(s, query))
    return page(request, format, rows, EVENT_FIELDS, limit, offset)


def source_rows(request: Request) -> list[dict[str, Any]]:
    ctx = web_context(request)
    configured = [(s.name, s.enabled) for s in ctx.settings.sources]
    policy = Backoff.of(ctx.settings.crawl)
    report = read(
        request,
        lambda s: source_report(configured, article_counts(s), source_health(s), policy),
    )
    return [{"id": r["source"], **r} for r in report]


@router.get("/sources", response_model=Page[SourceOut], responses={200: {"content": CSV}})
def sources(
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    format: OutputFormat = None,
) -> Any:
    """The health of every source and its feeds and sitemaps."""
    rows = source_rows(request)[offset : offset + limit]
    if wants_csv(request, format):
        flat = [{**r, "endpoints": [e["url"] for e in r["endpoints"]]} for r in rows]
        columns = [
            "id",
            "source",
            "configured",
            "enabled",
            "articles",
            "last_fetched_at",
            "consecutive_errors",
            "endpoints",
        ]
        return page(request, format, flat, columns, limit, offset)
    return page(request, format, rows, [], limit, offset)
