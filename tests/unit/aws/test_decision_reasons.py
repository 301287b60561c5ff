"""Each promotion decision names the rule that made it, in short metric labels (NDCG@10, MRR@25…)."""

from __future__ import annotations

import pytest

from shared.personalize.metrics import METRIC_LABELS, metric_label, metric_order
from shared.personalize.promotion import Evidence, Policy, decide

pytestmark = pytest.mark.unit

P = "normalized_discounted_cumulative_gain_at_10"
GOOD = {P: 0.30, "coverage": 0.4, "mean_reciprocal_rank_at_25": 0.2, "precision_at_10": 0.05}


def test_labels_are_short_distinct_and_cover_every_metric() -> None:
    assert metric_label(P) == "NDCG@10"
    assert metric_label("normalized_discounted_cumulative_gain_at_25") == "NDCG@25"
    assert metric_label("mean_reciprocal_rank_at_25") == "MRR@25" and metric_label("precision_at_10") == "P@10"
    assert metric_label("precision_at_50") == "P@50" and metric_label("something_else") == "something_else"
    labels = list(METRIC_LABELS.values())
    assert len(set(labels)) == len(labels) and max(map(len, labels)) <= 8
    assert sorted(["coverage", P, "precision_at_5"], key=metric_order) == [P, "precision_at_5", "coverage"]


def test_a_first_version_is_promoted_by_the_first_version_rule_and_says_where_it_loses() -> None:
    candidate = {**GOOD, "mean_reciprocal_rank_at_25": 0.04}
    baseline = {P: 0.1, "mean_reciprocal_rank_at_25": 0.05, "coverage": 0.1}
    decision = decide(Evidence(candidate, baseline), Policy())
    assert decision.action == "promote"
    rule, note = decision.reasons
    assert rule.startswith("rule 'first version': nothing serves") and "NDCG@10 0.3000 > baseline 0.1000" in rule
    assert "MRR@25 0.0400 < 0.0500" in note and "coverage" not in note and "on NDCG@10 only" in note
    assert all("normalized_discounted" not in r for r in decision.reasons)


def test_a_replacement_names_the_serving_rule_with_its_margin_and_guards() -> None:
    decision = decide(Evidence({**GOOD, P: 0.4}, {P: 0.1}, "v0", GOOD), Policy())
    assert decision.action == "promote" and len(decision.reasons) == 1
    (rule,) = decision.reasons
    assert rule.startswith("rule 'better than serving'") and "1.0% above" in rule
    assert "coverage, MRR@25, P@10" in rule and "NDCG@10 0.4000 vs serving 0.3000, baseline 0.1000" in rule


def test_a_kept_candidate_says_why_in_labels() -> None:
    decision = decide(Evidence({**GOOD, P: 0.4, "coverage": 0.3}, {P: 0.1}, "v0", GOOD), Policy())
    assert decision.action == "keep" and decision.reasons[0].startswith("guard coverage 0.3000 fell below")
    decision = decide(Evidence({**GOOD, P: 0.302}, {P: 0.1}, "v0", GOOD), Policy())
    assert decision.reasons[0].startswith("NDCG@10 0.3020 is not 1.0% above the serving 0.3000")
