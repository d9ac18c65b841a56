"""CLI: ``shopwatch sources``, the health of every source, feed and sitemap."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.context import AppContext
from cli.output import Format, print_json, print_table
from shopwatch.errors import UsageError
from storage.articles import article_counts
from storage.endpoints import Backoff, reset_endpoint, source_health, source_report


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
            if e["health"] != "ok":
                status = f"{e['health'].upper()}: {status}"
                if e["next_attempt_at"]:
                    status += f" (next try {e['next_attempt_at']:%Y-%m-%d %H:%M} UTC)"
                elif e["health"] == "gone":
                    status += " (not fetched again; shopwatch sources --reset URL)"
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
    reset: Annotated[
        list[str] | None,
        typer.Option(
            "--reset",
            metavar="URL",
            help="Forget a feed's failures so the next crawl tries it (a gone or broken feed).",
        ),
    ] = None,
) -> None:
    """Show each source and feed: last fetch, status, health, article count, consecutive errors.

    A feed that fails is tried again after a backoff ([crawl] feed_backoff, doubled per
    failure up to feed_backoff_max); after [crawl] broken_after failures in a row it is
    shown BROKEN; a 410 Gone marks it GONE and it is not fetched again until --reset.

    Example: shopwatch sources --format json
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings)
    for url in reset or []:
        with store.write() as session:
            if not reset_endpoint(session, url):
                store.close()
                raise UsageError(f"no stored feed or sitemap has the URL {url!r}")
    with store.read() as session:
        report = source_report(
            [(x.name, x.enabled) for x in settings.sources],
            article_counts(session),
            source_health(session),
            Backoff.of(settings.crawl),
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
