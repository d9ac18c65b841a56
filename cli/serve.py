"""CLI: ``shopwatch serve``, the web workspace and JSON API."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from cli.context import AppContext
from shopwatch.errors import ConfigError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default [web] host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default [web] port, 8000).")
    ] = None,
) -> None:
    """Serve the web workspace (search, entities, stories, articles, sources) and the JSON API.

    On loopback no token is needed; on any other address the token in the variable
    [web] auth_token_env names is required, and without one the server refuses to start.

    Example: SHOPWATCH_WEB_TOKEN=s3cret shopwatch serve --host 0.0.0.0 --port 8080
    """
    import uvicorn

    from web.app import create_app

    app: AppContext = ctx.obj
    settings = app.settings()
    bind = host or settings.web.host
    token = app.env.get(settings.web.auth_token_env) or None
    if not is_loopback(bind) and token is None:
        raise ConfigError(
            f"refusing to serve on {bind} without a token: set ${settings.web.auth_token_env} "
            "(or serve on 127.0.0.1)"
        )
    store = app.store(settings, create=False)
    where = f"http://{bind}:{port or settings.web.port}/"
    typer.echo(
        f"shopwatch serving {settings.store.url} at {where}"
        + (" (token required)" if token else ""),
        err=True,
    )
    try:
        uvicorn.run(
            create_app(settings, store, token=token),
            host=bind,
            port=port or settings.web.port,
            log_level="debug" if app.verbose else "warning",
            server_header=False,
        )
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.command()(serve)
