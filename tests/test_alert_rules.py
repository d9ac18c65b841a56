"""Alert rules (pure): which articles a rule fires for, about whom, and with which sentence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.model import AlertRule
from delivery.alerts import Facts, match_rule
from storage.alerts import Unchecked
from storage.tables import EventRow, FigureRow

TEXT = (
    "Shoppers flocked to the sale. Temu said GMV rose 23% to $17.5 billion. "
    "Its Europe chief, Stefan Kowalczyk, resigned on Friday."
)
ALIASES = {"Temu": ["PDD Holdings' Temu"], "Shein": ["SHEIN"]}


def facts(**extra: object) -> Facts:
    article = Unchecked(
        id=5,
        content_hash="h",
        source="retail-daily",
        url="https://retail-daily.example/a/5",
        title="Temu's record sale",
        text=TEXT,
        at=datetime(2026, 11, 13, tzinfo=UTC),
        story_id=9,
    )
    values: dict[str, object] = {"article": article, "watched": frozenset({"Temu"})}
    values.update(extra)
    return Facts(**values)  # type: ignore[arg-type]


def rule(**extra: object) -> AlertRule:
    return AlertRule.model_validate({"name": "r", "channels": ["json://127.0.0.1/x"], **extra})


EVENT = EventRow(
    article_id=5,
    type="leadership",
    entity="Temu",
    persons=["Stefan Kowalczyk"],
    trigger="resigned",
    sentence="Its Europe chief, Stefan Kowalczyk, resigned on Friday.",
    start=0,
    end=1,
)
GMV = FigureRow(
    article_id=5,
    value=17.5e9,
    unit="currency",
    currency="USD",
    metric="GMV",
    change="up",
    entity="Temu",
    text="$17.5 billion",
    sentence="Temu said GMV rose 23% to $17.5 billion.",
    start=0,
    end=1,
)


def test_an_entity_rule_fires_with_the_sentence_that_names_it() -> None:
    alert = match_rule(rule(entities=["Temu", "Shein"]), facts(outlets=3), ALIASES)
    assert alert is not None
    assert (alert.rule, alert.entity, alert.story_id, alert.outlets) == ("r", "Temu", 9, 3)
    assert alert.sentence == "Temu said GMV rose 23% to $17.5 billion."
    assert "3 outlets" in alert.body and alert.url in alert.body
    assert alert.subject == "shopwatch alert [r] Temu: Temu's record sale"


def test_an_entity_rule_ignores_other_entities() -> None:
    assert match_rule(rule(entities=["Shein"]), facts(), ALIASES) is None


def test_an_event_rule_needs_that_event_about_that_entity() -> None:
    wanted = rule(entities=["Temu"], events=["leadership"])
    assert match_rule(wanted, facts(), ALIASES) is None
    alert = match_rule(wanted, facts(events=[EVENT]), ALIASES)
    assert alert is not None and alert.sentence == EVENT.sentence
    assert "leadership event" in alert.reason
    other = EventRow(**{**EVENT.model_dump(exclude={"id"}), "entity": "Shein"})
    assert match_rule(wanted, facts(events=[other]), ALIASES) is None
    assert match_rule(rule(events=["layoffs"]), facts(events=[EVENT]), ALIASES) is None


@pytest.mark.parametrize(
    ("condition", "fires"),
    [
        ({"metric": "GMV", "change": "up"}, True),
        ({"metric": "gmv"}, True),
        ({"metric": "GMV", "change": "down"}, False),
        ({"metric": "revenue"}, False),
        ({"min_value": 1e10}, True),
        ({"min_value": 1e11}, False),
    ],
)
def test_a_figure_rule(condition: dict[str, object], fires: bool) -> None:
    alert = match_rule(rule(min_figure=condition), facts(figures=[GMV]), ALIASES)
    assert (alert is not None) is fires
    if alert is not None:
        assert "GMV up ($17.5 billion)" in alert.reason and alert.sentence == GMV.sentence


def test_a_query_rule_needs_its_query_to_have_matched() -> None:
    wanted = rule(query='"record sale" OR GMV')
    assert match_rule(wanted, facts(), ALIASES) is None
    alert = match_rule(wanted, facts(queries=frozenset({'"record sale" OR GMV'})), ALIASES)
    assert alert is not None and 'matches "record sale" OR GMV' in alert.reason


def test_an_article_without_a_story_is_its_own_story() -> None:
    lone = facts()
    lone = Facts(
        article=Unchecked(**{**lone.article.__dict__, "story_id": None}), watched=lone.watched
    )
    alert = match_rule(rule(), lone, ALIASES)
    assert alert is not None and alert.story_id == -5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"query": "NEAR("}, "not a full-text query"),
        ({"channels": ["nope"]}, "not a notification URL"),
        ({"channels": []}, "at least 1"),
        ({"events": ["rumours"]}, "leadership"),
    ],
)
def test_bad_rules_are_refused(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule(**extra)
