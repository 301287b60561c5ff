"""CSV parts: Personalize's bulk format, hostile text, splitting at a size limit."""

from __future__ import annotations

import csv
import hashlib
import io
import random
from pathlib import Path
from typing import Any

import pytest

from shared.export.csvfiles import PartWriter, RowTooLarge, csv_line
from tests.unit.export.factories import HOSTILE, read_csv

pytestmark = pytest.mark.unit
HEADER = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE", "DEVICE"]


def test_header_rows_nulls_and_line_ends(tmp_path: Path) -> None:
    writer = PartWriter(str(tmp_path), "interactions", HEADER)
    writer.write([csv_line(("u1", "s1", 1, 0.5, None)), csv_line(("u2", "s2", 2, None, "Web"))])
    [part] = writer.close()
    data = Path(part.path).read_bytes()
    assert data == b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE,DEVICE\nu1,s1,1,0.5,\nu2,s2,2,,Web\n"
    assert (part.rows, part.size, part.sha256) == (2, len(data), hashlib.sha256(data).hexdigest())


def test_hostile_text_round_trips(tmp_path: Path) -> None:
    rows = [(f"u{i}", text, i, None, text) for i, text in enumerate(HOSTILE)]
    writer = PartWriter(str(tmp_path), "x", HEADER)
    writer.write([csv_line(r) for r in rows])
    [part] = writer.close()
    parsed = read_csv(Path(part.path).read_bytes())
    assert parsed[0] == HEADER
    assert [(r[1], r[4]) for r in parsed[1:]] == [(t, t) for t in HOSTILE]


def test_empty_dataset_is_a_header_only_part(tmp_path: Path) -> None:
    writer = PartWriter(str(tmp_path), "x", HEADER)
    writer.write([])
    [part] = writer.close()
    assert part.rows == 0 and read_csv(Path(part.path).read_bytes()) == [HEADER]


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_split_keeps_every_part_under_the_limit_with_its_own_header(tmp_path: Path, batch: int) -> None:
    rows = [(f"user-{i}", f"story-{i}", i, None, "Web") for i in range(500)]
    writer = PartWriter(str(tmp_path), "x", HEADER, max_bytes=600)
    for start in range(0, len(rows), batch):
        writer.write([csv_line(r) for r in rows[start : start + batch]])
    parts = writer.close()
    assert len(parts) > 5
    assert [p.index for p in parts] == list(range(len(parts)))
    back: list[list[str]] = []
    for part in parts:
        data = Path(part.path).read_bytes()
        assert len(data) == part.size <= 600
        parsed = read_csv(data)
        assert parsed[0] == HEADER and len(parsed) - 1 == part.rows > 0
        back.extend(parsed[1:])
    assert back == [[str(c) if c is not None else "" for c in r] for r in rows]


def test_row_larger_than_a_part_is_an_error(tmp_path: Path) -> None:
    writer = PartWriter(str(tmp_path), "x", HEADER, max_bytes=80)
    with pytest.raises(RowTooLarge):
        writer.write([csv_line(("u" * 100, "s", 1, None, None))])


def test_limit_must_leave_room_after_the_header(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no room"):
        PartWriter(str(tmp_path), "x", HEADER, max_bytes=20)


def test_discard_removes_files(tmp_path: Path) -> None:
    writer = PartWriter(str(tmp_path), "x", HEADER, max_bytes=100)
    writer.write([csv_line((f"u{i}", "s", i, None, None)) for i in range(50)])
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def _stdlib(row: tuple[Any, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerow(row)
    return buffer.getvalue()


def test_csv_line_matches_the_csv_module_except_for_bare_carriage_returns() -> None:
    rng = random.Random(5)
    alphabet = ["a", "Z", "0", " ", ",", '"', "\n", "|", "é", "📰", "ע", "\t", "'"]
    for _ in range(2_000):
        row = tuple(
            rng.choice(
                [
                    None,
                    rng.randint(-5, 10**12),
                    rng.random() * 10 ** rng.randint(-8, 8),
                    "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))),
                ]
            )
            for _ in range(rng.randint(1, 7))
        )
        assert csv_line(row) == _stdlib(row), row


def test_csv_line_quotes_a_bare_carriage_return_so_readers_keep_the_row() -> None:
    line = csv_line(("a\rb", "c"))
    assert line == '"a\rb",c\n'
    assert list(csv.reader(io.StringIO(line, newline=""))) == [["a\rb", "c"]]
    assert _stdlib(("a\rb", "c")) == "a\rb,c\n"  # what the csv module would have written


def test_a_lone_empty_field_is_quoted() -> None:
    assert csv_line(("",)) == '""\n' == _stdlib(("",))
