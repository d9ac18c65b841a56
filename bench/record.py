"""Writing results into docs/benchmarks.md: one section per benchmark, with the machine."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nFigures measured by `python -m bench NAME --record`; "
    "each section is rewritten by its benchmark.\n"
)


def machine() -> str:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        memory = "unknown"
    versions = []
    for package in ("trafilatura", "lxml", "scrapy", "spacy", "sqlmodel", "sqlalchemy"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    sqlite = f"SQLite {sqlite3.sqlite_version}"
    return (
        f"{os.cpu_count()} cores ({_cpu()}), {memory}, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, {sqlite}, "
        + ", ".join(versions)
    )


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def record(name: str, body: str) -> Path:
    """Replace (or add) the section of benchmark ``name`` in docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {name}\n\n_Measured {stamp} on {machine()}._\n\n"
        f"{body.strip()}\n<!-- /bench:{name} -->"
    )
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text}\n{section}\n"
    DOC.write_text(text, encoding="utf-8")
    return DOC
