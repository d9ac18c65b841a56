"""CLI: ``shopwatch db``, the store's schema revision and its upgrade (the migrations)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cli.context import AppContext
from cli.output import print_json
from shopwatch.errors import StoreError
from storage.engine import Store
from storage.migrations import HEAD

db_app = typer.Typer(
    help="The store's schema: which revision it is at, and upgrading it to the newest.",
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


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
