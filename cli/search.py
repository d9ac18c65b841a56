"""CLI: ``shopwatch search``, full-text search and listing of stored articles."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from cli.context import AppContext
from cli.dates import parse_when
from cli.output import Format, print_csv, print_json, print_table
from storage.search import ArticleHit, ArticleQuery, find_articles

JSON_FIELDS = (
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


def hit_record(hit: ArticleHit, *, full: bool) -> dict[str, Any]:
    record = {key: value for key, value in asdict(hit).items() if key in JSON_FIELDS}
    if hit.snippet is not None:
        record["snippet"] = hit.snippet
    if full:
        record["text"] = hit.text
    return record


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
    query_spec = ArticleQuery(
        q=query,
        entity=entity,
        sources=tuple(source or ()),
        since=parse_when(since, option="--since"),
        until=parse_when(until, end_of_day=True, option="--until"),
        language=language,
        limit=limit,
        offset=offset,
        order="relevance" if rank else "newest",
    )
    store = app.store(settings, create=False)
    with store.read() as session:
        hits = find_articles(session, query_spec)
    store.close()
    records = [hit_record(hit, full=full) for hit in hits]
    if output is Format.json:
        print_json(records)
    elif output is Format.csv:
        columns = [*JSON_FIELDS, *(["text"] if full else [])]
        print_csv(records, columns)
    elif not records:
        typer.echo("no articles found", err=True)
    else:
        print_table(records, ["published_at", "source", "title", "url"])


def register(app: typer.Typer) -> None:
    app.command()(search)
