"""Ordering by (TIMESTAMP, click id): the streaming sort and its on-disk fallback agree."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from shared.export.ordering import OutOfOrder, external_sort, nearly_sorted

pytestmark = pytest.mark.unit


def _entries(n: int, jitter: int, seed: int = 1) -> list[tuple[int, str, tuple[Any, ...]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = i // 3 + rng.randint(-jitter, jitter)
        out.append((ts, f"c{i:05d}", (f"u{i}", ts)))
    return out


def _flat(batches: Any) -> list[Any]:
    return [e for batch in batches for e in batch]


def _identity(e: Any) -> Any:
    return e


def test_nearly_sorted_input_comes_out_sorted() -> None:
    entries = _entries(5_000, jitter=5)
    out = _flat(nearly_sorted(entries, _identity, buffer_rows=500, carry_rows=100))
    assert out == sorted(entries)


def test_rejected_records_are_dropped() -> None:
    entries = _entries(100, jitter=0)
    out = _flat(nearly_sorted(entries, lambda e: e if e[0] % 2 else None, buffer_rows=10, carry_rows=5))
    assert out == sorted(e for e in entries if e[0] % 2)


def test_disorder_beyond_the_carry_is_detected() -> None:
    entries = _entries(2_000, jitter=0)
    entries.append((-1, "late", ("u", -1)))
    with pytest.raises(OutOfOrder):
        _flat(nearly_sorted(entries, _identity, buffer_rows=100, carry_rows=10))


def test_disorder_in_the_last_buffer_is_detected() -> None:
    entries = [*_entries(150, jitter=0), (-1, "late", ("u", -1))]
    with pytest.raises(OutOfOrder):
        _flat(nearly_sorted(entries, _identity, buffer_rows=100, carry_rows=10))


def test_carry_must_be_smaller_than_buffer() -> None:
    with pytest.raises(ValueError):
        _flat(nearly_sorted([], _identity, buffer_rows=10, carry_rows=10))


@pytest.mark.parametrize("run_rows", [7, 100, 100_000])
def test_external_sort_handles_any_order_and_cleans_up(tmp_path: Path, run_rows: int) -> None:
    entries = _entries(3_000, jitter=0)
    random.Random(3).shuffle(entries)
    out = _flat(external_sort(entries, _identity, run_rows=run_rows, directory=str(tmp_path)))
    assert out == sorted(entries)
    assert list(tmp_path.iterdir()) == []


def test_both_sorts_give_the_same_order(tmp_path: Path) -> None:
    entries = _entries(4_000, jitter=3)
    fast = _flat(nearly_sorted(entries, _identity, buffer_rows=400, carry_rows=100))
    slow = _flat(external_sort(entries, _identity, run_rows=333, directory=str(tmp_path)))
    assert fast == slow
