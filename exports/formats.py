"""Exports: writing rows as CSV, JSON Lines or Parquet, a batch at a time.

Every writer takes an iterable of row dicts and never holds more than one
batch. CSV cells that a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return) get a leading ``'``:
article text is untrusted, and CSV is opened in spreadsheets.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BATCH = 2_000


def csv_cell(value: Any) -> Any:
    """One CSV cell: dates in ISO 8601, lists joined with "; ", formulas defused."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_lines(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> Iterator[str]:
    """The CSV text of ``rows`` (header first), a line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    yield _drain(buffer)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str], out: IO[str]) -> int:
    lines = -1  # the header is not a row
    for line in csv_lines(rows, columns):
        out.write(line)
        lines += 1
    return lines


def write_jsonl(rows: Iterable[dict[str, Any]], columns: Sequence[str], out: IO[str]) -> int:
    count = 0
    for row in rows:
        record = {column: row.get(column) for column in columns}
        out.write(json.dumps(record, ensure_ascii=False, default=_json_default) + "\n")
        count += 1
    return count


def write_parquet(rows: Iterable[dict[str, Any]], schema: Any, path: Path) -> int:
    """``rows`` into a Parquet file with ``schema`` (a pyarrow schema), a row group per batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 0
    iterator = iter(rows)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        while batch := list(islice(iterator, BATCH)):
            columns = {
                field.name: [_parquet_value(row.get(field.name), field.type) for row in batch]
                for field in schema
            }
            writer.write_table(pa.table(columns, schema=schema))
            count += len(batch)
    return count


def _parquet_value(value: Any, kind: Any) -> Any:
    import pyarrow as pa

    if isinstance(value, list) and not pa.types.is_list(kind):
        return "; ".join(str(v) for v in value)
    return value
