"""Exports: ``shopwatch export``: one dataset of the store into a CSV, JSON Lines or Parquet file.

The rows stream from :mod:`storage.exports` a batch at a time into the
writers of :mod:`exports.formats`; the file is written beside its final name
and renamed when complete, so a failed export never leaves half a file behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from exports.formats import write_csv, write_jsonl, write_parquet
from shopwatch.errors import UsageError
from storage.engine import Store
from storage.enrichment import EVENT_FIELDS, FIGURE_FIELDS
from storage.exports import (
    ARTICLE_COLUMNS,
    export_articles,
    export_events,
    export_figures,
    export_mentions,
)

FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class Dataset:
    rows: Callable[..., Iterator[dict[str, Any]]]
    columns: tuple[str, ...]
    types: dict[str, str]  # column → arrow type name, for Parquet (default: string)


DATASETS = {
    "articles": Dataset(
        export_articles,
        ARTICLE_COLUMNS,
        {
            "id": "int64",
            "published_at": "timestamp",
            "first_seen_at": "timestamp",
            "fetched_at": "timestamp",
            "updated_at": "timestamp",
            "entities": "list",
        },
    ),
    "figures": Dataset(
        export_figures,
        FIGURE_FIELDS,
        {
            "id": "int64",
            "article_id": "int64",
            "published_at": "timestamp",
            "value": "float64",
            "value_max": "float64",
            "start": "int64",
            "end": "int64",
        },
    ),
    "events": Dataset(
        export_events,
        EVENT_FIELDS,
        {
            "id": "int64",
            "article_id": "int64",
            "published_at": "timestamp",
            "persons": "list",
            "start": "int64",
            "end": "int64",
        },
    ),
    "mentions": Dataset(export_mentions, ("entity", "period", "count"), {"count": "int64"}),
}


def _schema(dataset: Dataset) -> Any:
    import pyarrow as pa

    kinds = {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "list": pa.list_(pa.string()),
    }
    return pa.schema(
        [(name, kinds.get(dataset.types.get(name, ""), pa.string())) for name in dataset.columns]
    )


def export(store: Store, name: str, fmt: str, out: Path, *, since: datetime | None = None) -> int:
    """Write dataset ``name`` as ``fmt`` to ``out``; returns the number of rows."""
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}: one of {', '.join(DATASETS)}")
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    dataset = DATASETS[name]
    rows = dataset.rows(store, since=since)
    partial = out.with_name(f".{out.name}.partial")
    try:
        if fmt == "parquet":
            count = write_parquet(rows, _schema(dataset), partial)
        else:
            with partial.open("w", encoding="utf-8", newline="") as handle:
                writer = write_csv if fmt == "csv" else write_jsonl
                count = writer(rows, dataset.columns, handle)
        os.replace(partial, out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return count
