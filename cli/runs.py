"""CLI: ``shopwatch runs``, the record of past crawl runs and their errors."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import AppContext
from cli.output import Format, print_json, print_table
from storage.runs import TOTALS, latest_runs, run_errors


def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many runs to show.")] = 10,
    errors: Annotated[
        int | None, typer.Option("--errors", help="Show the errors of this run.")
    ] = None,
    output: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """List recent crawl runs with their counts, or one run's errors.

    Example: shopwatch runs --errors 12
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings)
    with store.read() as session:
        if errors is not None:
            rows = [e.model_dump() for e in run_errors(session, errors)]
            columns = ["at", "source", "kind", "url", "message"]
        else:
            rows = [r.model_dump() for r in latest_runs(session, limit)]
            columns = ["id", "started_at", "finished_at", "status", *TOTALS]
    store.close()
    if output is Format.json:
        print_json(rows)
    elif not rows:
        typer.echo("nothing recorded", err=True)
    else:
        print_table(rows, columns)


def register(app: typer.Typer) -> None:
    app.command()(runs)
