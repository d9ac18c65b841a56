"""Enrichment: watched entities, figures, events and people, on sentences and on the news world."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from config import example_toml, parse_settings
from newsworld.world import articles
from nlp.evaluate import score_all, world_expectations
from nlp.figures import find_amounts
from nlp.pipeline import Enricher, Enrichment
from nlp.run import follow_store
from nlp.watchlist import parent_chain
from storage.articles import ArticleData, upsert_articles
from storage.engine import Store, open_store
from storage.enrichment import pending_articles
from storage.tables import EnrichmentRecord

SETTINGS = parse_settings(example_toml())


@pytest.fixture(scope="session")
def enricher() -> Enricher:
    return Enricher(SETTINGS.nlp.model, SETTINGS.watch)


def enrich(enricher: Enricher, text: str, language: str | None = "en") -> Enrichment:
    return next(enricher.enrich([("t", text, language)]))[1]


def watched(result: Enrichment) -> set[str]:
    return {m.name for m in result.mentions if m.label == "WATCH"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "TikTok Shop's sales rose while SHEIN and temu cut prices.",
            {"TikTok Shop", "Shein", "Temu"},
        ),
        ("Pinduoduo owner PDD said Amazon.com was its rival.", {"PDD Holdings", "Amazon"}),
        ("Barges carry parcels along the Amazon and its tributaries to Manaus.", set()),
        ("The store sits in a prime location near the Amazon rainforest reserve.", set()),
        ("Shoppers in Temuco, Chile, queued for the new mall.", set()),
        ("Amazon's warehouse workers in the Amazon region walked out.", {"Amazon"}),
    ],
)
def test_watched_entities(enricher: Enricher, text: str, expected: set[str]) -> None:
    assert watched(enrich(enricher, text)) == expected


def test_parents_are_followed() -> None:
    assert parent_chain(SETTINGS.watch, "TikTok Shop") == ["TikTok", "ByteDance"]
    assert parent_chain(SETTINGS.watch, "Temu") == ["PDD Holdings"]
    assert parent_chain(SETTINGS.watch, "Amazon") == []


@pytest.mark.parametrize(
    ("text", "value", "value_max", "unit", "currency"),
    [
        ("revenue of $331 billion", 331e9, None, "currency", "USD"),
        ("a £1.2bn fine", 1.2e9, None, "currency", "GBP"),
        ("sales of €450m", 450e6, None, "currency", "EUR"),
        ("US$17.5 billion in GMV", 17.5e9, None, "currency", "USD"),
        ("a Rp75 billion penalty", 75e9, None, "currency", "IDR"),
        ("priced at $10,000-$20,000", 10_000, 20_000, "currency", "USD"),
        ("between 5% and 7% of sales", 5, 7, "percent", None),
        ("a 12.5 per cent fall", 12.5, None, "percent", None),
        ("it cut 2,000 jobs", 2000, None, "jobs", None),
        ("4 million orders a day", 4e6, None, "orders", None),
        ("3 billion yuan of sales", 3e9, None, "currency", "CNY"),
    ],
)
def test_amounts(
    text: str, value: float, value_max: float | None, unit: str, currency: str | None
) -> None:
    (figure,) = find_amounts(text)
    assert (figure.value, figure.value_max, figure.unit, figure.currency) == (
        value,
        value_max,
        unit,
        currency,
    )


def test_years_and_dates_are_not_figures() -> None:
    assert find_amounts("In 2026, on November 12, the Q3 report came out in 2025 stores.") == []


def test_figure_context(enricher: Enricher) -> None:
    text = (
        "Temu said its gross merchandise value rose to $17.5 billion during November 1-12. "
        "Shein, meanwhile, cut 2,000 jobs."
    )
    gmv, jobs = enrich(enricher, text).figures
    assert (gmv.metric, gmv.change, gmv.period, gmv.entity) == (
        "GMV",
        "up",
        "November 1-12",
        "Temu",
    )
    assert (jobs.metric, jobs.change, jobs.entity) == ("jobs", "down", "Shein")
    assert text[jobs.start : jobs.end] == "2,000"
    assert jobs.sentence == "Shein, meanwhile, cut 2,000 jobs."


def test_events_people_and_roles(enricher: Enricher) -> None:
    text = (
        "Maria Okafor, TikTok Shop's head of US e-commerce, stepped down on Friday. "
        "Shein named Priya Natarajan as chief operating officer. "
        "Amazon will lay off 1,200 warehouse staff. "
        "Temu launched in Kenya this week. "
        "The European Commission fined Temu €200 million."
    )
    result = enrich(enricher, text)
    kinds = {(e.type, e.entity) for e in result.events}
    assert {
        ("leadership", "TikTok Shop"),
        ("leadership", "Shein"),
        ("layoffs", "Amazon"),
        ("expansion", "Temu"),
        ("regulation", "Temu"),
    } <= kinds
    roles = {(p.name, p.org, p.role) for p in result.people}
    assert ("Maria Okafor", "TikTok Shop", "head of US e-commerce") in roles
    assert ("Priya Natarajan", "Shein", "chief operating officer") in roles


def test_other_languages_are_tagged_and_skipped(enricher: Enricher) -> None:
    result = enrich(enricher, "Temu eröffnet ein Lager bei Leipzig.", language="de")
    assert result.skipped and result.language == "de" and not result.figures


def test_news_world_facts_quality_floor(enricher: Enricher) -> None:
    """Regression floor on the world's annotated facts (figures and events it lists)."""
    items = [a for a in articles() if a["lang"] == "en" and not a.get("syndicated_from")]
    results = dict(
        enricher.enrich([(a["slug"], "\n\n".join(a["paragraphs"]), "en") for a in items])
    )
    scores = score_all((world_expectations(a), results[a["slug"]]) for a in items)
    assert scores.figures.recall >= 0.93
    assert scores.accuracy("currency") >= 0.98
    assert scores.accuracy("metric") >= 0.75
    assert scores.accuracy("entity") >= 0.65
    assert scores.events.recall >= 0.85


def test_a_separate_worker_parses_and_the_rules_here_give_the_same_enrichment(
    enricher: Enricher,
) -> None:
    """``separate``: spaCy in a worker, the rules in this process; the results are identical."""
    items = [(a["slug"], "\n\n".join(a["paragraphs"]), a["lang"]) for a in articles()[:12]]
    items.append(("other", "Temu eröffnet ein Lager bei Leipzig.", "de"))
    here = list(enricher.enrich(items))
    split = Enricher(SETTINGS.nlp.model, SETTINGS.watch, separate=True, batch_size=4)
    try:
        there = list(split.enrich(items))
    finally:
        split.close()
    assert [key for key, _ in there] == [key for key, _ in here]
    assert [result for _, result in there] == [result for _, result in here]
    assert there[-1][1].skipped and any(r.figures for _, r in there)


def _stored(store: Store, first: int, count: int) -> None:
    now = datetime.now(UTC)
    texts = [a for a in articles() if a["lang"] == "en"]
    with store.write() as session:
        upsert_articles(
            session,
            [
                ArticleData(
                    source="t",
                    url=f"https://t.test/{n}",
                    canonical_url=f"https://t.test/{n}",
                    title=texts[n]["title"],
                    text="\n\n".join(texts[n]["paragraphs"]),
                    fetched_at=now,
                    language="en",
                )
                for n in range(first, first + count)
            ],
        )


def test_following_the_store_enriches_what_arrives_until_told_to_stop(tmp_path: Path) -> None:
    """The last pass, after ``finished`` turns true, sees every article stored before it."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    _stored(store, 0, 3)
    calls: list[int] = []

    def finished() -> bool:
        calls.append(1)
        if len(calls) == 1:
            _stored(store, 3, 4)  # stored while the first pass was being made
            return False
        if len(calls) == 2:
            _stored(store, 7, 2)  # stored just before the crawl said it was done
        return len(calls) >= 2

    report = follow_store(SETTINGS, store, finished, poll=0.01)
    with store.read() as session:
        left = pending_articles(session)
        enriched = session.exec(select(func.count()).select_from(EnrichmentRecord)).one()
    store.close()
    assert len(calls) == 2
    assert report.articles == enriched == 9
    assert left == []
