"""Web stage: the HTML pages: search, entities, stories, articles and source health.

Server-rendered with autoescaped Jinja2 templates; every value from the web is
escaped, links go through :func:`delivery.render.safe_href`, and the pages
need no JavaScript.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlmodel import Session

from config.model import EVENT_TYPES
from delivery.model import format_value
from delivery.render import safe_href
from shopwatch.errors import UsageError
from shopwatch.when import parse_when
from storage.detail import article_detail
from storage.enrichment import (
    FactQuery,
    find_events,
    find_figures,
    mention_counts,
    people_of,
)
from storage.search import ArticleQuery, find_articles
from storage.stories import find_stories, get_story
from web.api import RowId, source_rows
from web.chart import daily_series, trend_svg
from web.context import read, web_context
from web.highlight import Span, entity_spans, marked_html, snippet_html

router = APIRouter(include_in_schema=False)

MAX_PAGE = 10_000
TREND_DAYS = 90


def _when(moment: Any) -> str:
    if not isinstance(moment, datetime):
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.globals["href"] = safe_href
    env.globals["event_types"] = EVENT_TYPES
    return env


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    page = _environment().get_template(template).render(request_path=request.url.path, **context)
    return HTMLResponse(page, status_code=status)


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html.j2", {"status": status, "message": message}, status=status)


def _page_link(request: Request, page: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    params.append(("page", str(page)))
    return f"{request.url.path}?{urlencode(params)}"


@router.get("/")
def home() -> Response:
    return RedirectResponse("/search", status_code=303)


@router.get("/search", response_class=HTMLResponse)
def search(
    request: Request,
    q: str | None = Query(None, max_length=500),
    entity: str | None = Query(None, max_length=200),
    source: str | None = Query(None, max_length=64),
    type: str | None = Query(None, max_length=20),
    language: str | None = Query(None, max_length=20),
    since: str | None = None,
    until: str | None = None,
    order: str = "newest",
    page: int = Query(1, ge=1, le=MAX_PAGE),
) -> Response:
    ctx = web_context(request)
    size = ctx.settings.web.page_size
    if type and type not in EVENT_TYPES:
        raise UsageError(f"type must be one of {', '.join(EVENT_TYPES)}")
    if order not in ("newest", "relevance"):
        raise UsageError("order must be newest or relevance")
    searching = bool(q and q.strip())
    query = ArticleQuery(
        q=q,
        entity=entity or None,
        sources=(source,) if source else (),
        since=parse_when(since or None, option="since"),
        until=parse_when(until or None, end_of_day=True, option="until"),
        language=language or None,
        event=type or None,
        limit=size + 1,
        offset=(page - 1) * size,
        order="relevance" if searching and order == "relevance" else "newest",
    )
    hits = read(request, lambda s: find_articles(s, query))
    more = len(hits) > size
    return render(
        request,
        "search.html.j2",
        {
            "form": {
                "q": q or "",
                "entity": entity or "",
                "source": source or "",
                "type": type or "",
                "language": language or "",
                "since": since or "",
                "until": until or "",
                "order": order,
            },
            "hits": [(hit, snippet_html(hit.snippet)) for hit in hits[:size]],
            "watched": [w.name for w in ctx.settings.watch],
            "sources": [s.name for s in ctx.settings.sources],
            "page": page,
            "first": (page - 1) * size + 1,
            "previous": _page_link(request, page - 1) if page > 1 else None,
            "next": _page_link(request, page + 1) if more else None,
        },
    )


@router.get("/entities", response_class=HTMLResponse)
def entities(request: Request) -> Response:
    from web.api import entity_rows

    return render(request, "entities.html.j2", {"entities": entity_rows(request)})


FIGURE_SORTS = {"date": "newest", "value": "value", "metric": "metric"}


@router.get("/entities/{name}", response_class=HTMLResponse)
def entity(request: Request, name: str, sort: str = "date") -> Response:
    ctx = web_context(request)
    if sort not in FIGURE_SORTS:
        raise UsageError(f"sort must be one of {', '.join(FIGURE_SORTS)}")
    watch = next((w for w in ctx.settings.watch if w.name.lower() == name.lower()), None)
    canonical = watch.name if watch else name
    today = datetime.now(UTC).date()
    since = datetime.combine(today - timedelta(days=TREND_DAYS - 1), datetime.min.time(), UTC)

    def ask(session: Session) -> dict[str, Any]:
        counts = mention_counts(session, entity=canonical, since=since, interval="day")
        return {
            "counts": {date.fromisoformat(r["period"]): r["count"] for r in counts},
            "stories": find_stories(session, entity=canonical, limit=10),
            "figures": find_figures(
                session, FactQuery(entity=canonical, limit=100, order=FIGURE_SORTS[sort])
            ),
            "events": find_events(session, FactQuery(entity=canonical, limit=50)),
            "people": people_of(session, canonical),
        }

    found = read(request, ask)
    if watch is None and not (found["stories"] or found["figures"] or found["events"]):
        return error_page(request, 404, f"no watched entity named {name!r}")
    series = daily_series(found["counts"], today, TREND_DAYS)
    for row in found["figures"]:
        row["amount"] = format_value(row["value"], row["value_max"], row["unit"], row["currency"])
    return render(
        request,
        "entity.html.j2",
        {
            "name": canonical,
            "watch": watch,
            "chart": trend_svg(series, canonical),
            "total": sum(n for _, n in series),
            "sort": sort,
            **found,
        },
    )


@router.get("/stories", response_class=HTMLResponse)
def stories(
    request: Request,
    min_sources: int = Query(1, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
) -> Response:
    size = web_context(request).settings.web.page_size
    rows = read(
        request,
        lambda s: find_stories(
            s, min_sources=min_sources, limit=size + 1, offset=(page - 1) * size
        ),
    )
    return render(
        request,
        "stories.html.j2",
        {
            "stories": rows[:size],
            "min_sources": min_sources,
            "previous": _page_link(request, page - 1) if page > 1 else None,
            "next": _page_link(request, page + 1) if len(rows) > size else None,
        },
    )


@router.get("/stories/{story_id}", response_class=HTMLResponse)
def story(request: Request, story_id: RowId) -> Response:
    found = read(request, lambda s: get_story(s, story_id))
    if found is None:
        return error_page(request, 404, f"no story {story_id}")
    return render(request, "story.html.j2", {"story": found})


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article(request: Request, article_id: RowId) -> Response:
    ctx = web_context(request)

    found = read(request, lambda s: article_detail(s, article_id))
    if found is None:
        return error_page(request, 404, f"no article {article_id}")
    text = found.article.text
    spans = [
        Span(
            f.start,
            f.end,
            "figure",
            f"{f.entity or '?'} · {f.metric} · "
            f"{format_value(f.value, f.value_max, f.unit, f.currency)} · {f.change}",
        )
        for f in found.figures
    ]
    spans += entity_spans(text, ctx.aliases)
    return render(
        request,
        "article.html.j2",
        {
            "article": found.article,
            "events": found.events,
            "mentions": found.mentions,
            "story_id": found.story_id,
            "body": marked_html(text, spans),
        },
    )


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request) -> Response:
    return render(request, "sources.html.j2", {"sources": source_rows(request)})
