"""CLI: ``shopwatch init``, write the starter configuration and create the store."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import AppContext
from config import example_toml, load_settings
from shopwatch.errors import ConfigError


def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter configuration (watchlist and example feeds) and create the database.

    The file goes to --config, $SHOPWATCH_CONFIG or ./shopwatch.toml. An existing
    file is kept (and its store created) unless --force.

    Example: shopwatch --config /etc/shopwatch.toml init
    """
    app: AppContext = ctx.obj
    path, _ = app.config_path()
    if path.exists() and not force:
        typer.echo(f"{path} exists; keeping it (use --force to overwrite)")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(example_toml(), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc}") from exc
        typer.echo(f"wrote {path}")
    settings = load_settings(path, required=True)
    store = app.store(settings)
    store.close()
    typer.echo(f"store ready at {settings.store.url}")


def register(app: typer.Typer) -> None:
    app.command()(init)
