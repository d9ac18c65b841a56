"""CLI: ``shopwatch figures``, ``events`` and ``mentions``, the facts enrichment found."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.context import AppContext
from cli.output import Format, print_csv, print_json, print_table
from nlp.events import EVENT_TYPES
from shopwatch.when import parse_when
from storage.enrichment import (
    EVENT_FIELDS,
    FIGURE_FIELDS,
    FactQuery,
    Interval,
    find_events,
    find_figures,
    mention_counts,
)
from storage.stories import find_stories


def _emit(
    rows: list[dict[str, Any]], output: Format, fields: tuple[str, ...], table_columns: list[str]
) -> None:
    if output is Format.json:
        print_json([{k: row.get(k) for k in fields} for row in rows])
    elif output is Format.csv:
        print_csv(rows, fields)
    elif not rows:
        typer.echo("nothing found", err=True)
    else:
        print_table(rows, table_columns)


def _store_rows(ctx: typer.Context, fetch: Any) -> list[dict[str, Any]]:
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings, create=False)
    with store.read() as session:
        rows: list[dict[str, Any]] = fetch(session)
    store.close()
    return rows


def _value(row: dict[str, Any]) -> str:
    value = row["value"]
    text = f"{value:,.0f}" if value >= 1000 else f"{value:g}"
    if row.get("value_max") is not None:
        text += f"–{row['value_max']:,.0f}"
    if row["unit"] == "percent":
        return text + "%"
    if row["unit"] == "currency":
        return f"{row.get('currency') or ''} {text}".strip()
    return f"{text} {row['unit']}"


def figures(
    ctx: typer.Context,
    entity: Annotated[str | None, typer.Option(help="Only figures of this entity.")] = None,
    metric: Annotated[str | None, typer.Option(help="Only this metric (e.g. GMV, jobs).")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to and including this date.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    output: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Money amounts, percentages and counts found in articles, newest first.

    Example: shopwatch figures --entity Temu --metric GMV --format json
    """
    query = FactQuery(
        entity=entity,
        metric=metric,
        limit=limit,
        since=parse_when(since, option="--since"),
        until=parse_when(until, end_of_day=True, option="--until"),
    )
    rows = _store_rows(ctx, lambda session: find_figures(session, query))
    for row in rows:
        row["amount"] = _value(row)
    _emit(
        rows,
        output,
        FIGURE_FIELDS,
        ["published_at", "entity", "metric", "amount", "change", "period", "source"],
    )


def events(
    ctx: typer.Context,
    type_: Annotated[
        str | None, typer.Option("--type", help=f"One of {', '.join(EVENT_TYPES)}.")
    ] = None,
    entity: Annotated[str | None, typer.Option(help="Only events of this entity.")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to and including this date.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    output: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Leadership, sales, layoffs, hiring, expansion and regulation events, newest first.

    Example: shopwatch events --type leadership --entity "TikTok Shop"
    """
    if type_ is not None and type_ not in EVENT_TYPES:
        raise typer.BadParameter(f"must be one of {', '.join(EVENT_TYPES)}", param_hint="--type")
    query = FactQuery(
        entity=entity,
        type=type_,
        limit=limit,
        since=parse_when(since, option="--since"),
        until=parse_when(until, end_of_day=True, option="--until"),
    )
    rows = _store_rows(ctx, lambda session: find_events(session, query))
    _emit(rows, output, EVENT_FIELDS, ["published_at", "type", "entity", "persons", "sentence"])


def mentions(
    ctx: typer.Context,
    entity: Annotated[str | None, typer.Option(help="Only this watched entity.")] = None,
    interval: Annotated[Interval, typer.Option(help="Count per day or per week.")] = Interval.day,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    per_story: Annotated[
        bool, typer.Option("--stories", help="Count stories (each once), not articles.")
    ] = False,
    output: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """How many articles (or stories) mentioned each watched entity, per day or week.

    Example: shopwatch mentions --entity Temu --interval week
    """
    since_at = parse_when(since, option="--since")
    rows = _store_rows(
        ctx,
        lambda session: mention_counts(
            session, entity=entity, since=since_at, interval=interval.value, stories=per_story
        ),
    )
    _emit(rows, output, ("entity", "period", "count"), ["period", "entity", "count"])


def stories(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    min_sources: Annotated[
        int, typer.Option(min=1, help="Only stories reported by at least this many outlets.")
    ] = 1,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    output: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """Stories (the same news from one or more outlets), newest first, with their articles.

    Example: shopwatch stories --min-sources 2
    """
    since_at = parse_when(since, option="--since")
    rows = _store_rows(
        ctx,
        lambda session: find_stories(session, since=since_at, min_sources=min_sources, limit=limit),
    )
    if output is Format.json:
        print_json(rows)
        return
    table = [
        {
            "first": r["first_at"],
            "outlets": r["sources"],
            "title": r["title"],
            "reported by": [
                f"{a['source']} ({a['published_at']:%m-%d %H:%M})"
                if a["published_at"]
                else a["source"]
                for a in r["articles"]
            ],
        }
        for r in rows
    ]
    _emit(
        table,
        output,
        ("first", "outlets", "title", "reported by"),
        ["first", "outlets", "title", "reported by"],
    )


def register(app: typer.Typer) -> None:
    app.command()(stories)
    app.command()(figures)
    app.command()(events)
    app.command()(mentions)
