"""The extraction scorer behaves as the benchmark's own."""

from bench.scoring import average, score_document


def test_perfect_and_disjoint_documents() -> None:
    text = "Temu grew its sales by a third in the quarter"
    assert average([score_document(text, text)]).f1 == 1.0
    miss = average([score_document("one two three four five", text)])
    assert miss.precision == 0.0 and miss.recall == 0.0


def test_extra_boilerplate_costs_precision_not_recall() -> None:
    truth = "Temu grew its sales by a third in the quarter"
    score = average([score_document(truth + " Subscribe now to our daily newsletter today", truth)])
    assert score.recall == 1.0
    assert 0.4 < score.precision < 0.8


def test_empty_prediction_counts_for_recall_only() -> None:
    truth = "Shein cut two thousand jobs in its American operations"
    score = average([score_document("", truth), score_document(truth, truth)])
    assert score.precision == 1.0
    assert score.recall == 0.5
