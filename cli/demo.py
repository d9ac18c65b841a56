"""CLI: ``shopwatch demo``, crawl the bundled news world into a fresh store and show what was found.

Works offline: the world is served on a free loopback port of this machine.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cli.context import AppContext
from cli.crawl import crawl_with_progress, print_report
from cli.enrich import enrich_with_progress, summary
from cli.output import err_console, print_table
from config import example_watchlist_toml, load_settings
from newsworld import NewsWorld, sources_toml
from storage.articles import article_counts
from storage.enrichment import FactQuery, find_events, find_figures
from storage.search import ArticleQuery, find_articles


def demo_config(base_url: str, db_path: Path) -> str:
    """A configuration for the news world at ``base_url`` with the starter watchlist."""
    return (
        f'[store]\nurl = "sqlite:///{db_path}"\n\n'
        '[crawl]\nuser_agent = "shopwatch-demo/0.1 (+https://example.org/bot)"\n'
        'allowed_networks = ["127.0.0.1/32"]\n'
        f"{sources_toml(base_url)}\n{example_watchlist_toml()}"
    )


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Folder for the demo's store and configuration (else a new temp folder).",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Serve the bundled news world on loopback, crawl it into a fresh store, and show the results.

    Example: shopwatch demo --dir ./demo-output
    """
    app: AppContext = ctx.obj
    folder = directory or Path(tempfile.mkdtemp(prefix="shopwatch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    db_path = (folder / "shopwatch.db").resolve()
    for stale in folder.glob("shopwatch.db*"):
        stale.unlink()
    console = err_console()
    with NewsWorld() as world:
        config_path = folder / "shopwatch.toml"
        config_path.write_text(demo_config(world.base_url, db_path), encoding="utf-8")
        settings = load_settings(config_path, required=True)
        console.print(f"news world serving at {world.base_url}/", markup=False)
        store = app.store(settings)
        report = crawl_with_progress(app, settings, store)
    print_report(report)
    typer.echo(summary(enrich_with_progress(app, settings, store)))
    with store.read() as session:
        newest = find_articles(session, ArticleQuery(limit=10))
        counts = article_counts(session)
        top = find_figures(session, FactQuery(metric="GMV", limit=6))
        top += find_figures(session, FactQuery(metric="jobs", limit=4))
        moves = find_events(session, FactQuery(type="leadership", limit=5))
    store.close()
    print_table(
        [
            {
                "published": h.published_at,
                "source": h.source,
                "lang": h.language,
                "author": h.author,
                "title": h.title,
            }
            for h in newest
        ],
        ["published", "source", "lang", "author", "title"],
        title=f"newest of {sum(counts.values())} stored articles",
    )
    print_table(
        [
            {
                "published": f["published_at"],
                "entity": f["entity"],
                "metric": f["metric"],
                "amount": f["text"],
                "change": f["change"],
                "period": f["period"],
            }
            for f in top
        ],
        ["published", "entity", "metric", "amount", "change", "period"],
        title="figures: GMV and jobs",
    )
    print_table(
        [
            {
                "published": e["published_at"],
                "entity": e["entity"],
                "people": e["persons"],
                "sentence": e["sentence"],
            }
            for e in moves
        ],
        ["published", "entity", "people", "sentence"],
        title="leadership changes",
    )
    typer.echo(f"\nstore:  {db_path}\nconfig: {config_path.resolve()}")
    typer.echo(f'try:    shopwatch --config {config_path.resolve()} search "Temu"')


def register(app: typer.Typer) -> None:
    app.command()(demo)
