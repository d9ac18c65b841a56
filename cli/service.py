"""CLI: ``shopwatch run``, the long-running service, and ``shopwatch schedules``, its plan."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from cli.context import AppContext
from cli.deliver import smtp_password
from cli.output import Format, print_json, print_table
from schedules.plan import next_fire_time, plan_jobs
from storage.articles import as_utc
from storage.service import last_runs


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # APScheduler says "Running job …" and Apprise "Sent …" for every run and message;
    # the service's own lines say what each job did (and storage.migrate what an upgrade did)
    for chatty in ("apscheduler", "apprise", "alembic"):
        logging.getLogger(chatty).setLevel(logging.INFO if verbose else logging.WARNING)


def run(ctx: typer.Context) -> None:
    """Run the service: scheduled crawls, alerts after each crawl, the daily digest, retries.

    One service per store: on SQLite a second one refuses to start; on PostgreSQL it waits
    as a standby and takes over when the first one dies. Stop it with SIGTERM or Ctrl-C;
    a running crawl gets [scheduler] stop_timeout to finish.

    Example: shopwatch --config shopwatch.toml run
    """
    from schedules.service import Service

    app: AppContext = ctx.obj
    settings = app.settings()
    plan_jobs(settings)  # a schedule that cannot run stops here, before the store is touched
    _configure_logging(app.verbose)
    store = app.store(settings)
    try:
        service = Service(settings, store, smtp_password=smtp_password(app, settings))
        code = service.run()
    finally:
        store.close()
    if code:
        raise typer.Exit(code)


def schedules(
    ctx: typer.Context,
    output: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """List the jobs `shopwatch run` schedules: what, when, the next and the last run.

    Example: shopwatch schedules --format json
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    specs = plan_jobs(settings)
    store = app.store(settings)
    with store.read() as session:
        latest = last_runs(session)
    store.close()
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for spec in specs:
        last = latest.get(spec.id)
        following = next_fire_time(spec.trigger, now)
        rows.append(
            {
                "job": spec.id,
                "kind": spec.kind,
                "when": spec.description,
                "sources": list(spec.sources),
                "next_run": following.astimezone(UTC) if following else None,
                "last_run": as_utc(last.started_at) if last else None,
                "last_status": last.status if last else None,
                "last_detail": last.detail if last else None,
            }
        )
    if output is Format.json:
        print_json(rows)
    else:
        print_table(
            rows,
            ["job", "when", "sources", "next_run", "last_run", "last_status"],
            title="times in UTC",
        )


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(schedules)
