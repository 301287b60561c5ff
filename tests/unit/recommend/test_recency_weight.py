"""The popularity ranking's recency weight: total (any input gives a weight in [0, 1]) and never rising with age."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.recommend.run import recency_weight

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0
times = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.none(), st.text(max_size=5), st.booleans()
)


@given(times, st.floats(min_value=1.0, max_value=100_000.0))
def test_any_timestamp_gives_a_weight_between_0_and_1(timestamp: Any, half_life: float) -> None:
    weight = recency_weight(timestamp, NOW, half_life)
    assert 0.0 <= weight <= 1.0


@given(st.floats(min_value=0, max_value=1e7), st.floats(min_value=0, max_value=1e7), st.floats(1.0, 1000.0))
def test_an_older_read_never_weighs_more(age_a: float, age_b: float, half_life: float) -> None:
    older, newer = max(age_a, age_b), min(age_a, age_b)
    assert recency_weight(NOW - older, NOW, half_life) <= recency_weight(NOW - newer, NOW, half_life)


def test_the_weight_halves_every_half_life_and_the_future_counts_as_now() -> None:
    assert recency_weight(NOW - 24 * 3600, NOW, 24.0) == pytest.approx(0.5)
    assert recency_weight(NOW + 3600, NOW, 24.0) == 1.0
    assert recency_weight(None, NOW, 24.0) == 0.0 and recency_weight(float("nan"), NOW, 24.0) == 0.0
