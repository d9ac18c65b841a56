"""CLI: ``shopwatch sources``, the health of every source, feed and sitemap."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.context import AppContext
from cli.output import Format, print_json, print_table
from config.model import Settings
from storage.articles import article_counts
from storage.endpoints import source_health
from storage.tables import Endpoint


def _endpoint(row: Endpoint) -> dict[str, Any]:
    return {
        "url": row.url,
        "kind": row.kind,
        "last_fetched_at": row.last_fetched_at,
        "last_status": row.last_status,
        "last_ok_at": row.last_ok_at,
        "consecutive_errors": row.consecutive_errors,
        "last_error": row.last_error,
        "last_warning": row.last_warning,
        "entries": row.entries_last,
    }


def source_report(
    settings: Settings, counts: dict[str, int], health: dict[str, list[Endpoint]]
) -> list[dict[str, Any]]:
    """One record per configured source (and per stored source no longer configured)."""
    names = [s.name for s in settings.sources]
    names += sorted((set(counts) | set(health)) - set(names))
    configured = {s.name: s for s in settings.sources}
    report = []
    for name in names:
        endpoints = [_endpoint(row) for row in health.get(name, [])]
        source = configured.get(name)
        report.append(
            {
                "source": name,
                "configured": source is not None,
                "enabled": bool(source and source.enabled),
                "articles": counts.get(name, 0),
                "last_fetched_at": max(
                    (e["last_fetched_at"] for e in endpoints if e["last_fetched_at"]), default=None
                ),
                "consecutive_errors": max((e["consecutive_errors"] for e in endpoints), default=0),
                "endpoints": endpoints,
            }
        )
    return report


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
        report = source_report(settings, article_counts(session), source_health(session))
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
