"""CLI: ``shopwatch enrich``, and the enrichment step ``shopwatch crawl`` runs after fetching."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.live import Live
from rich.text import Text

from cli.context import AppContext
from cli.output import err_console, print_json
from config.model import Settings
from nlp.run import EnrichReport, enrich_store
from storage.engine import Store


def enrich_with_progress(
    app: AppContext, settings: Settings, store: Store, *, everything: bool = False
) -> EnrichReport:
    """Enrich pending articles, with a live line on a terminal."""
    console = err_console()
    if not console.is_terminal:
        return enrich_store(settings, store, everything=everything)
    started = time.monotonic()
    with Live(
        Text("loading the language model…"), console=console, transient=True, auto_refresh=False
    ) as live:

        def show(report: EnrichReport) -> None:
            rate = report.articles / max(time.monotonic() - started, 1e-6)
            live.update(
                Text(
                    f"enriching: {report.articles} articles ({rate:.1f}/s), "
                    f"{report.figures} figures, {report.events} events"
                ),
                refresh=True,
            )

        return enrich_store(settings, store, everything=everything, on_progress=show)


def summary(report: EnrichReport) -> str:
    other = report.skipped
    return (
        f"enriched {report.articles - other} articles ({report.tokens} tokens): "
        f"{report.figures} figures, {report.events} events"
        + (f"; {other} not in English, tagged and skipped" if other else "")
    )


def enrich(
    ctx: typer.Context,
    everything: Annotated[
        bool, typer.Option("--all", help="Enrich every article again, not only new and changed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Find watched entities, figures, events and people in new and changed articles.

    Idempotent: an article's enrichment rows are replaced, never duplicated.

    Example: shopwatch enrich --all
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings)
    report = enrich_with_progress(app, settings, store, everything=everything)
    store.close()
    if as_json:
        print_json(vars(report))
    else:
        typer.echo(summary(report))


def register(app: typer.Typer) -> None:
    app.command()(enrich)
