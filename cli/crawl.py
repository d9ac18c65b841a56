"""CLI: ``shopwatch crawl``, one pass over the configured sources.

Unless ``--no-enrich``, a child process enriches the articles while they are
being fetched (:class:`nlp.run.Alongside`), so the language model and the
crawler each have a core.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.text import Text

from cli.context import AppContext
from cli.enrich import summary
from cli.output import err_console, print_json, print_table
from config.model import Settings
from nlp.pipeline import require_model
from nlp.run import Alongside, EnrichReport
from storage.engine import Store

if TYPE_CHECKING:  # Scrapy and trafilatura are imported only by the commands that crawl
    from crawler.run import CrawlReport
    from crawler.tally import Tally


class _Progress:
    """A one-line live display of the running totals (only on a terminal)."""

    def __init__(self, enriched: Callable[[], int] | None = None) -> None:
        self.enriched = enriched
        self.console = err_console()
        self.live = Live(
            Text("starting crawl…"), console=self.console, transient=True, auto_refresh=False
        )
        self.last = 0.0
        self.started = time.monotonic()

    def __enter__(self) -> _Progress:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def update(self, tally: Tally) -> None:
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        totals = tally.totals()
        line = " · ".join(f"{key} {value}" for key, value in totals.items())
        if self.enriched is not None:
            line += f" · enriched {self.enriched()}"
        self.live.update(Text(f"crawling {now - self.started:5.1f}s  {line}"), refresh=True)


def crawl_with_progress(
    app: AppContext,
    settings: Settings,
    store: Store,
    sources: Sequence[str] = (),
    enriched: Callable[[], int] | None = None,
) -> CrawlReport:
    """One crawl run, with the live progress line when stderr is a terminal (and not --verbose)."""
    from crawler.run import run_crawl

    if err_console().is_terminal and not app.verbose:
        with _Progress(enriched) as progress:
            return run_crawl(settings, store, sources, on_progress=progress.update)
    return run_crawl(settings, store, sources, log_level="INFO" if app.verbose else "ERROR")


def finish_with_progress(alongside: Alongside) -> EnrichReport:
    """Wait for the enrichment of the last articles, with a live count on a terminal."""
    console = err_console()
    if not console.is_terminal:
        return alongside.finish()
    with Live(Text("enriching…"), console=console, transient=True, auto_refresh=False) as live:
        return alongside.finish(
            lambda count: live.update(Text(f"enriching: {count} articles"), refresh=True)
        )


def print_report(report: CrawlReport) -> None:
    rows = [dict(source=name, **counts) for name, counts in report.per_source.items()]
    rows.append(dict(source="total", **report.totals))
    print_table(
        rows,
        ["source", "fetched", "new", "updated", "skipped", "failed"],
        title=f"crawl run {report.run_id} ({report.status})",
    )
    if report.errors:
        console = err_console()
        console.print(f"{len(report.errors)} problem(s) recorded; the first ones:", markup=False)
        for error in report.errors[:5]:
            console.print(f"  [{error['kind']}] {error['url']}: {error['message']}", markup=False)
        console.print(f"see all with: shopwatch runs --errors {report.run_id}", markup=False)


def enqueue(settings: Settings, store: Store, sources: Sequence[str], as_json: bool) -> None:
    """With ``[crawl] queue``: push the seeds for ``shopwatch worker`` and say what went in."""
    from crawler.worker import enqueue_seeds

    report = enqueue_seeds(settings, store, sources)
    store.close()
    if as_json:
        print_json(
            {"round": report.round_id, "queued": report.queued, "recovered": report.recovered}
            | report.totals
        )
        return
    keys = list(report.totals)
    rows = [
        {"source": name, **{k: c.get(k, 0) for k in keys}} for name, c in report.per_source.items()
    ]
    rows.append({"source": "total", **report.totals})
    print_table(rows, ["source", *keys], title=f"enqueued round {report.round_id}")
    typer.echo(
        f"{report.queued} request(s) now in the queue"
        + (f"; {report.recovered} returned from stopped workers" if report.recovered else "")
        + "; `shopwatch worker` crawls them"
    )


def crawl(
    ctx: typer.Context,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Crawl only this source (repeatable)."),
    ] = None,
    no_enrich: Annotated[
        bool, typer.Option("--no-enrich", help="Store articles without enriching them.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"fetched","new","updated","skipped","failed"}.')
    ] = False,
) -> None:
    """Fetch new and changed articles from all (or the named) sources, once.

    With [crawl] queue set, it only enqueues the sources' feeds, sitemaps and
    listing pages for `shopwatch worker` and returns.

    Example: shopwatch crawl --source retail-daily --json
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings)
    if settings.crawl.queue is not None:
        enqueue(settings, store, source or (), as_json)
        return
    enriched: EnrichReport | None = None
    if no_enrich:
        report = crawl_with_progress(app, settings, store, source or ())
    else:
        require_model(settings.nlp.model)  # before the crawl, not after it
        with Alongside(settings) as alongside:  # enriching what is stored, while crawling
            report = crawl_with_progress(
                app, settings, store, source or (), enriched=lambda: alongside.enriched
            )
            enriched = finish_with_progress(alongside)
    if as_json:
        print_json(report.totals)
    else:
        print_report(report)
        if enriched is not None:
            typer.echo(summary(enriched))
    store.close()


def register(app: typer.Typer) -> None:
    app.command()(crawl)
