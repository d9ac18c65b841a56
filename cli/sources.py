"""CLI: ``shopwatch sources``, the health of every source, feed and sitemap."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.context import AppContext
from cli.output import Format, print_json, print_table
from storage.articles import article_counts
from storage.endpoints import source_health, source_report


def _table_rows(report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for entry in report:
        rows.append(
            {
                "source": entry["source"],
                "kind": "source",
                "articles": entry["articles"],
                "last fetch": entry["last_fetched_at"],
                "errors": entry["consecutive_errors"],
                "status": "" if entry["configured"] else "not configured",
            }
        )
        for e in entry["endpoints"]:
            status = e["last_error"] or (str(e["last_status"]) if e["last_status"] else "")
            if e["last_warning"] and not e["last_error"]:
                status += f" ({e['last_warning']})"
            rows.append(
                {
                    "source": "",
                    "kind": e["kind"],
                    "url": e["url"],
                    "last fetch": e["last_fetched_at"],
                    "status": status,
                    "errors": e["consecutive_errors"],
                }
            )
    return rows


def sources(
    ctx: typer.Context,
    output: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """Show each source and feed: last fetch, status, article count, consecutive errors.

    Example: shopwatch sources --format json
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings)
    with store.read() as session:
        report = source_report(
            [(x.name, x.enabled) for x in settings.sources],
            article_counts(session),
            source_health(session),
        )
    store.close()
    if output is Format.json:
        print_json(report)
    else:
        print_table(
            _table_rows(report),
            ["source", "kind", "url", "articles", "last fetch", "status", "errors"],
        )


def register(app: typer.Typer) -> None:
    app.command()(sources)
