"""Delivery stage: alert rules over newly enriched articles, fired once per rule and story.

:func:`match_rule` is pure: given what enrichment found in one article, does
an ``[[alerts]]`` rule fire, for which entity, and which sentence says so?
:func:`evaluate_alerts` is the shell: it takes the articles whose current
content has not been checked, records each new (rule, story) pair together
with one outbox delivery per channel in one transaction, and marks the
articles checked. A syndicated copy or a re-crawl of the same story finds the
pair already recorded and fires nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from config.model import AlertRule, Settings, Watch
from delivery.model import Alert
from storage.alerts import (
    Unchecked,
    fts_hits,
    mark_checked,
    unchecked_articles,
    watched_names,
)
from storage.digest import events_of, figures_of
from storage.engine import Store
from storage.outbox import alert_fired, enqueue, record_alert
from storage.stories import story_outlets
from storage.tables import AlertRecord, Delivery, EventRow, FigureRow

BATCH = 200
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Facts:
    """What enrichment found in one article, as the rules see it."""

    article: Unchecked
    watched: frozenset[str]
    events: list[EventRow] = field(default_factory=list)
    figures: list[FigureRow] = field(default_factory=list)
    queries: frozenset[str] = frozenset()
    outlets: int = 1


def _mention_sentence(text: str, names: Sequence[str]) -> str | None:
    patterns = [re.compile(rf"\b{re.escape(n)}\b", re.IGNORECASE) for n in names if n]
    for sentence in _SENTENCE_END.split(text):
        if any(p.search(sentence) for p in patterns):
            return " ".join(sentence.split())[:600]
    return None


def _figure_ok(rule: AlertRule, row: FigureRow, entities: set[str]) -> bool:
    want = rule.min_figure
    assert want is not None
    return (
        (not entities or row.entity in entities)
        and (want.metric is None or row.metric.lower() == want.metric.lower())
        and (want.change is None or row.change == want.change)
        and (want.min_value is None or row.value >= want.min_value)
    )


def match_rule(rule: AlertRule, facts: Facts, aliases: dict[str, list[str]]) -> Alert | None:
    """The alert ``rule`` raises for this article, or None."""
    entities = set(rule.entities)
    mentioned = sorted(facts.watched & entities) if entities else sorted(facts.watched)
    if entities and not mentioned:
        return None
    if rule.query and rule.query not in facts.queries:
        return None
    entity: str | None = mentioned[0] if mentioned else None
    sentence: str | None = None
    reasons: list[str] = []
    if rule.events:
        event = next(
            (
                e
                for e in facts.events
                if e.type in rule.events and (not entities or e.entity in entities)
            ),
            None,
        )
        if event is None:
            return None
        entity, sentence = event.entity or entity, event.sentence
        reasons.append(f"{event.type} event")
    if rule.min_figure is not None:
        figure = next((f for f in facts.figures if _figure_ok(rule, f, entities)), None)
        if figure is None:
            return None
        entity = figure.entity or entity
        sentence = sentence or figure.sentence
        reasons.append(f"{figure.metric} {figure.change} ({figure.text})")
    if rule.query:
        reasons.append(f"matches {rule.query}")
    if sentence is None:
        names = [n for name in ([entity] if entity else []) for n in [name, *aliases.get(name, [])]]
        sentence = _mention_sentence(facts.article.text, names) or facts.article.title
    about = f"{entity} mentioned" if entity else "mentioned"
    article = facts.article
    return Alert(
        rule=rule.name,
        story_id=article.story_id if article.story_id is not None else -article.id,
        article_id=article.id,
        entity=entity,
        title=article.title,
        sentence=sentence,
        url=article.url,
        source=article.source,
        outlets=facts.outlets,
        reason=f"{about}: {', '.join(reasons)}" if reasons else about,
    )


@dataclass
class AlertReport:
    checked: int = 0
    fired: list[Alert] = field(default_factory=list)
    repeated: int = 0


def _facts(store: Store, batch: list[Unchecked], rules: Sequence[AlertRule]) -> list[Facts]:
    ids = [a.id for a in batch]
    with store.read() as session:
        watched = watched_names(session, ids)
        events, figures = events_of(session, ids), figures_of(session, ids)
        outlets = story_outlets(session, [a.story_id for a in batch if a.story_id is not None])
        hits = {rule.query: fts_hits(session, rule.query, ids) for rule in rules if rule.query}
    return [
        Facts(
            article=a,
            watched=frozenset(watched.get(a.id, [])),
            events=[e for e in events if e.article_id == a.id],
            figures=[f for f in figures if f.article_id == a.id],
            queries=frozenset(q for q, found in hits.items() if a.id in found),
            outlets=outlets.get(a.story_id, 1) if a.story_id is not None else 1,
        )
        for a in batch
    ]


def channel_key(alert: Alert, channel: str) -> str:
    digest = hashlib.sha256(channel.encode()).hexdigest()[:16]
    return f"alert:{alert.rule}:{alert.story_id}:{digest}"


def _record(
    store: Store,
    settings: Settings,
    alerts: list[Alert],
    checked: list[Unchecked],
    report: AlertReport,
    now: datetime,
) -> None:
    rules = {rule.name: rule for rule in settings.alerts}
    with store.write() as session:
        for alert in alerts:
            if alert_fired(session, alert.rule, alert.story_id):
                report.repeated += 1
                continue
            record = record_alert(
                session,
                AlertRecord(
                    rule=alert.rule,
                    story_id=alert.story_id,
                    article_id=alert.article_id,
                    entity=alert.entity,
                    title=alert.title,
                    sentence=alert.sentence,
                    url=alert.url,
                    source=alert.source,
                    outlets=alert.outlets,
                    reason=alert.reason,
                    fired_at=now,
                ),
            )
            for channel in rules[alert.rule].channels:
                enqueue(
                    session,
                    Delivery(
                        key=channel_key(alert, channel),
                        kind="alert",
                        ref=record.id,
                        channel=channel,
                        recipients=[],
                        subject=alert.subject,
                        body=alert.body,
                        next_attempt_at=now,
                        created_at=now,
                    ),
                )
            report.fired.append(alert)
        mark_checked(session, [(a.id, a.content_hash) for a in checked], now)


def evaluate_alerts(
    store: Store, settings: Settings, *, dry_run: bool = False, now: datetime | None = None
) -> AlertReport:
    """Check every enriched, unchecked article against the rules (see the module docstring).

    Articles older than ``[delivery] alert_max_age`` are marked checked without
    firing, so turning alerts on over an old store does not flood anyone.
    ``dry_run`` reports what would fire and changes nothing.
    """
    now = now or datetime.now(UTC)
    rules = [rule for rule in settings.alerts if rule.enabled]
    aliases = _aliases(settings.watch)
    report = AlertReport()
    oldest = now - settings.delivery.alert_max_age
    after = 0
    while True:
        with store.read() as session:
            batch = unchecked_articles(session, after_id=after, limit=BATCH)
        if not batch:
            break
        after = batch[-1].id
        fresh = [a for a in batch if a.at >= oldest]
        found: dict[tuple[str, int], Alert] = {}
        for facts in _facts(store, fresh, rules) if rules and fresh else []:
            for rule in rules:
                alert = match_rule(rule, facts, aliases)
                if alert is not None:
                    found.setdefault((alert.rule, alert.story_id), alert)
        report.checked += len(batch)
        if dry_run:
            with store.read() as session:
                new = [a for a in found.values() if not alert_fired(session, a.rule, a.story_id)]
            report.fired.extend(new)
            report.repeated += len(found) - len(new)
            continue
        _record(store, settings, list(found.values()), batch, report, now)
    return report


def _aliases(watch: Sequence[Watch]) -> dict[str, list[str]]:
    return {w.name: list(w.aliases) for w in watch}
