"""CLI: ``shopwatch db``, the store's schema revision and its upgrade (the migrations),
copying the store into another (:mod:`storage.copy`) and compacting its search index
(:mod:`storage.maintenance`)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.live import Live
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from cli.context import AppContext
from cli.output import err_console, print_json, print_table
from shopwatch.errors import StoreError
from storage.copy import DEFAULT_BATCH, CopyReport, TableCopy, copy_store, same_store
from storage.engine import Store, open_store
from storage.maintenance import optimize_search
from storage.migrations import HEAD

db_app = typer.Typer(
    help="The store's schema (its revision, upgrading it), copying the store into another, "
    "and compacting its search index.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _store(ctx: typer.Context) -> Store:
    app: AppContext = ctx.obj
    settings = app.settings()
    return Store(settings.store.url, settings.store.busy_timeout)


def _shown(url: str) -> str:
    """The URL without its password, if it has one."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL SQLAlchemy can parse (the engine says so)
        return url


@db_app.command()
def current(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the store's schema revision and whether it is the newest (head).

    A store made before migrations has no revision; `shopwatch db upgrade` (or any
    command that opens the store) stamps it as the baseline and upgrades it.

    Example: shopwatch db current
    """
    store = _store(ctx)
    try:
        if not store.has_schema():
            raise StoreError(
                f"no shopwatch store at {_shown(store.url)} "
                "(run `shopwatch init` or `shopwatch db upgrade`)"
            )
        revision = store.revision()
    finally:
        store.close()
    if as_json:
        print_json({"revision": revision, "head": HEAD, "is_head": revision == HEAD})
    elif revision == HEAD:
        typer.echo(f"{revision} (head)")
    elif revision is None:
        typer.echo(f"none: made before migrations (head is {HEAD}; run `shopwatch db upgrade`)")
    else:
        typer.echo(f"{revision} (not head: head is {HEAD}; run `shopwatch db upgrade`)")


@db_app.command()
def upgrade(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Create the configured store, or upgrade its schema to the newest revision.

    Prints the revision before and after. Every command that opens the store does
    the same first; this one does only that.

    Example: shopwatch --config /etc/shopwatch.toml db upgrade
    """
    store = _store(ctx)
    try:
        done = store.upgrade()
    finally:
        store.close()
    if as_json:
        print_json({"from": done.before, "to": done.after, "adopted": done.adopted, "head": HEAD})
    elif done.changed:
        typer.echo(f"{_shown(store.url)}: upgraded from {done.describe_before()} to {done.after}")
    else:
        typer.echo(f"{_shown(store.url)}: already at {done.after} (head)")


class _CopyProgress:
    """A live line per table: rows read and written, and the rate (only on a terminal)."""

    def __init__(self) -> None:
        self.live = Live(
            Text("starting copy…"), console=err_console(), transient=True, auto_refresh=False
        )
        self.tables: list[TableCopy] = []
        self.started: dict[str, float] = {}
        self.last = 0.0  # the last redraw
        self.previous = time.monotonic()  # the last batch: where the next table's clock starts

    def __enter__(self) -> _CopyProgress:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def start(self, tables: list[TableCopy]) -> None:
        self.tables = tables

    def update(self, tally: TableCopy) -> None:
        now = time.monotonic()
        self.started.setdefault(tally.name, self.previous)
        self.previous = now
        if now - self.last < 0.1:
            return
        self.last = now
        lines = [self._line(t, now) for t in self.tables if t.name in self.started]
        self.live.update(Text("\n".join(lines)), refresh=True)

    def _line(self, tally: TableCopy, now: float) -> str:
        rate = tally.read / max(now - self.started[tally.name], 1e-3)
        return (
            f"{tally.name:<18} {tally.read:>9,} / {tally.source_rows:,} read · "
            f"{tally.written:,} written · {rate:,.0f} rows/s"
        )


def _open_target(url: str) -> Store:
    try:
        return open_store(url)
    except (SQLAlchemyError, ImportError) as exc:  # a database SQLAlchemy cannot drive here
        raise StoreError(f"cannot open the target store {_shown(url)}: {exc}") from exc
    except StoreError as exc:
        cause = exc.__cause__
        reason = getattr(cause, "orig", None) or cause or exc
        lines = str(reason).strip().splitlines() or [type(reason).__name__]
        raise StoreError(f"cannot reach the target store {_shown(url)}: {lines[0]}") from exc


def _copy(source: Store, target: Store, batch: int) -> CopyReport:
    if not err_console().is_terminal:
        return copy_store(source, target, batch=batch)
    with _CopyProgress() as progress:
        return copy_store(
            source, target, batch=batch, on_start=progress.start, on_progress=progress.update
        )


@db_app.command()
def copy(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="SQLAlchemy URL of the target store, e.g. postgresql+psycopg://user@host/db.",
        ),
    ],
    batch: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows per batch (one transaction each).")
    ] = DEFAULT_BATCH,
    as_json: JsonOption = False,
) -> None:
    """Copy the configured store into another store (normally PostgreSQL), resumably.

    Creates or upgrades the target's schema first. Running it again copies nothing
    twice; an interrupted copy, run again, finishes. The target must be empty or an
    earlier copy of this same store.

    Example: shopwatch db copy --to postgresql+psycopg://shopwatch@db.example.org/shopwatch
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    if same_store(settings.store.url, to):
        raise StoreError(f"the target store {_shown(to)} is the configured store itself")
    source = app.store(settings, create=False)
    try:
        target = _open_target(to)
        try:
            report = _copy(source, target, batch)
        finally:
            target.close()
    finally:
        source.close()
    if as_json:
        print_json({t.name: vars(t) for t in report.tables} | {"written": report.written})
        return
    print_table(
        [{"table": t.name} | vars(t) for t in report.tables],
        ["table", "source_rows", "read", "written", "target_rows"],
        title=f"copied into {_shown(to)}",
    )
    typer.echo(f"{report.written} rows written")


@db_app.command()
def optimize(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Compact the store's search index so that searches read less (run nightly by the service).

    On SQLite, merges the full-text index's segments into one, in short steps
    that a crawl writing at the same time waits for one at a time; stopped
    (Ctrl-C), it leaves a correct index and goes on where it stopped when run
    again. On PostgreSQL, runs VACUUM (ANALYZE) on the articles. Progress is
    shown on a terminal.

    Example: shopwatch db optimize
    """
    app: AppContext = ctx.obj
    settings = app.settings()
    store = app.store(settings, create=False)
    console = err_console()
    last = [0.0]

    def shown(steps: int, seconds: float) -> None:
        if console.is_terminal and seconds - last[0] >= 1.0:
            last[0] = seconds
            console.print(f"merging the search index: {steps} step(s), {seconds:.0f} s")

    try:
        done = optimize_search(store, on_step=shown)
    finally:
        store.close()
    if as_json:
        print_json(vars(done))
    else:
        typer.echo(done.describe())


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
