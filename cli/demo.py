"""CLI: ``shopwatch demo``, crawl the bundled news world into a fresh store and show what was found.

Works offline: the world is served on a free loopback port of this machine.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from cli.context import AppContext
from cli.crawl import crawl_with_progress, print_report
from cli.enrich import enrich_with_progress, summary
from cli.output import err_console, print_table
from config import example_watchlist_toml, load_settings
from config.model import Settings
from newsworld import NewsWorld, sources_toml
from storage.articles import article_counts, newest_article_time
from storage.engine import Store
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


def write_demo_digest(settings: Settings, store: Store, path: Path) -> Path:
    """The digest of the world's last week (its newest article's day and the six before)."""
    from delivery.chart import mentions_chart
    from delivery.digest import make_digest, window_for
    from delivery.message import standalone_html

    with store.read() as session:
        newest = newest_article_time(session)
    zone = settings.digest.timezone
    now = datetime.now(UTC)
    day = (newest or now).astimezone(ZoneInfo(zone)).date()
    since = datetime.combine(day - timedelta(days=6), time(0), ZoneInfo(zone))
    digest = make_digest(store, settings.digest, window_for(zone, now=now, day=day, since=since))
    store.close()
    chart = mentions_chart(digest.chart_days, digest.mentions) if digest.mentions else None
    path.write_text(standalone_html(digest, chart), encoding="utf-8")
    return path


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
    """Serve the bundled news world on loopback, crawl it into a fresh store, show what it found.

    Ends by writing the digest of the world's last week to DIR/digest.html.

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
    digest_path = write_demo_digest(settings, app.store(settings), folder / "digest.html")
    typer.echo(f"\nstore:  {db_path}\nconfig: {config_path.resolve()}")
    typer.echo(f"digest: {digest_path.resolve()}")
    typer.echo(f'try:    shopwatch --config {config_path.resolve()} search "Temu"')


def register(app: typer.Typer) -> None:
    app.command()(demo)
