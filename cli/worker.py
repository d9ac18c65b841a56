"""CLI: ``shopwatch worker``, a crawler that takes its work from the shared queue.

A thin shell over :func:`crawler.worker.run_worker`; Ctrl-C or SIGTERM stops
it cleanly (Scrapy finishes what is in flight, the rest goes back to the queue).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import AppContext
from cli.output import print_json
from shopwatch.errors import UsageError


def worker(
    ctx: typer.Context,
    exit_when_idle: Annotated[
        float | None,
        typer.Option(
            "--exit-when-idle",
            min=0,
            help="Exit once the queue and every worker's requests in flight have been "
            "empty this many seconds (else wait for work until stopped).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='At exit, print {"worker","run_id","status",…}.')
    ] = False,
) -> None:
    """Crawl what `shopwatch crawl` enqueued in [crawl] queue, until stopped.

    Example: shopwatch worker --exit-when-idle 30
    """
    from crawler.worker import run_worker

    app: AppContext = ctx.obj
    settings = app.settings()
    if settings.crawl.queue is None:
        raise UsageError('shopwatch worker needs [crawl] queue = "redis://HOST:6379/0"')
    store = app.store(settings)
    report = run_worker(
        settings, store, exit_when_idle=exit_when_idle, log_level="INFO" if app.verbose else "ERROR"
    )
    store.close()
    summary = {
        "worker": report.worker,
        "run_id": report.run_id,
        "status": report.status,
        "returned": report.returned,
        **report.totals,
    }
    if as_json:
        print_json(summary)
    else:
        counts = ", ".join(f"{k} {v}" for k, v in report.totals.items())
        typer.echo(
            f"worker {report.worker} (crawl run {report.run_id}, {report.status}): {counts}; "
            f"{report.returned} unfinished request(s) returned to the queue"
        )


def register(app: typer.Typer) -> None:
    app.command()(worker)
