"""Quality gate: enrichment meets its targets on the gold set (bench/gold/enrichment.json)."""

from bench.gold import checks, evaluate, load_gold


def test_enrichment_meets_its_quality_targets_on_the_gold_set() -> None:
    items = load_gold()
    assert len(items) >= 60
    rows = checks(evaluate(items))
    missed = [(name, round(value, 3), target) for name, value, target, ok in rows if not ok]
    assert missed == []
