"""CLI: ``shopwatch export``, a dataset of the store into a file, streamed."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.context import AppContext
from exports.run import export as run_export
from shopwatch.when import parse_when


class DatasetName(StrEnum):
    articles = "articles"
    figures = "figures"
    events = "events"
    mentions = "mentions"


class FileFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


def export(
    ctx: typer.Context,
    dataset: Annotated[DatasetName, typer.Argument(help="articles, figures, events or mentions.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write.", dir_okay=False)],
    output: Annotated[
        FileFormat, typer.Option("--format", "-f", help="csv, jsonl or parquet.")
    ] = FileFormat.csv,
    since: Annotated[
        str | None, typer.Option(help="Only articles published from this date (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Write a whole dataset to a file, a batch of rows at a time (any size, little memory).

    Example: shopwatch export figures --format parquet --since 2026-09-01 --out figures.parquet
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings, create=False)
    try:
        count = run_export(
            store, dataset.value, output.value, out, since=parse_when(since, option="--since")
        )
    finally:
        store.close()
    typer.echo(f"wrote {count:,} {dataset.value} rows to {out}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(export)
