"""CLI: ``shopwatch search``, full-text search and listing of stored articles."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import AppContext
from cli.output import Format, print_csv, print_json, print_table
from config.model import EVENT_TYPES
from shopwatch.when import parse_when
from storage.search import ARTICLE_FIELDS, ArticleQuery, article_record, find_articles


def search(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Argument(help='Words to find; "quoted words" as a phrase.')
    ] = None,
    entity: Annotated[
        str | None, typer.Option(help="Only articles mentioning this entity.")
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only this source (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to and including this date.")] = None,
    language: Annotated[str | None, typer.Option(help="Only this language (e.g. en).")] = None,
    type_: Annotated[
        str | None,
        typer.Option("--type", help=f"Only articles with this event: {', '.join(EVENT_TYPES)}."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many (paging).")] = 0,
    rank: Annotated[bool, typer.Option("--rank", help="Order by relevance, not date.")] = False,
    output: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    full: Annotated[
        bool, typer.Option("--full", help="Include the article text (json, csv).")
    ] = False,
) -> None:
    """Search stored articles, newest first; without QUERY, list them.

    Terms are searched as words, never parsed as operators (a-b, NEAR(, " are safe).

    Example: shopwatch search "gross merchandise" temu --since 2026-11-01 --format json
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    if type_ is not None and type_ not in EVENT_TYPES:
        raise typer.BadParameter(f"must be one of {', '.join(EVENT_TYPES)}", param_hint="--type")
    query_spec = ArticleQuery(
        q=query,
        entity=entity,
        sources=tuple(source or ()),
        since=parse_when(since, option="--since"),
        until=parse_when(until, end_of_day=True, option="--until"),
        language=language,
        event=type_,
        limit=limit,
        offset=offset,
        order="relevance" if rank else "newest",
    )
    store = app.store(settings, create=False)
    with store.read() as session:
        hits = find_articles(session, query_spec)
    store.close()
    records = [article_record(hit, full=full) for hit in hits]
    if output is Format.json:
        print_json(records)
    elif output is Format.csv:
        columns = [*ARTICLE_FIELDS, *(["text"] if full else [])]
        print_csv(records, columns)
    elif not records:
        typer.echo("no articles found", err=True)
    else:
        print_table(records, ["published_at", "source", "title", "url"])


def register(app: typer.Typer) -> None:
    app.command()(search)
