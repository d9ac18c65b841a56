"""CLI shell: the ``shopwatch`` command, its global options and its error handling.

Each command group lives in its own module and calls library functions;
library errors (:class:`shopwatch.errors.ShopwatchError`) become a one-line
message on stderr and the error's exit code, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli import (
    crawl,
    db,
    deliver,
    demo,
    enrich,
    export,
    facts,
    init,
    runs,
    search,
    serve,
    service,
    sources,
    worker,
)
from cli.context import make_context
from shopwatch import __version__
from shopwatch.errors import ShopwatchError

app = typer.Typer(
    name="shopwatch",
    help="News and market-intelligence monitor for e-commerce competitors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"shopwatch {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Configuration file (else $SHOPWATCH_CONFIG, else ./shopwatch.toml).",
            dir_okay=False,
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """News and market-intelligence monitor for e-commerce competitors."""
    ctx.obj = make_context(config, verbose)


for module in (
    init,
    crawl,
    enrich,
    search,
    facts,
    sources,
    runs,
    deliver,
    service,
    serve,
    export,
    db,
    demo,
    worker,
):
    module.register(app)


def run() -> None:
    """Console-script entry point: library errors become a message and an exit code."""
    try:
        app()
    except ShopwatchError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:
        if "-v" in sys.argv or "--verbose" in sys.argv:
            raise
        sys.stderr.write(
            f"error: internal error ({type(exc).__name__}: {exc}); "
            "run again with --verbose for the traceback and please report it\n"
        )
        sys.exit(1)
