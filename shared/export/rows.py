"""Record → CSV row conversion, driven by the Personalize Avro schema and capture's checks.

A converter turns one ML record (a Firestore document's data) into a CSV line with the schema's
columns in order, or rejects it with a reason: :func:`normalise` either repairs a value (int → float,
a list of categorical values → ``a|b``, a datetime → epoch seconds) or rejects the row. Then every
cell goes through the checks capture applies (:mod:`shared.capture.validation`, over the limits of
:mod:`shared.limits`): a record written by anything other than capture (a bug, an admin script) is
exported only if capture could have written it, and otherwise kept as a :class:`Reject` for quarantine.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.capture.validation import Invalid, check_cell, check_epoch, check_value
from shared.export.attribution import ImpressionIndex, attributed
from shared.export.csvfiles import csv_line
from shared.limits import CATEGORICAL_MAX_CHARS, ID_MAX_CHARS, MULTI_SEPARATOR, TEXTUAL_MAX_CHARS, column_kind, rule
from shared.schema import Column, DatasetSchema

ID_MAX = ID_MAX_CHARS
CATEGORICAL_MAX = CATEGORICAL_MAX_CHARS
TEXTUAL_MAX = TEXTUAL_MAX_CHARS
_SAMPLE_IDS = 20

Row = tuple[Any, ...]


class Record(Protocol):
    """What the converters read: a document id and its data (a ``shared.ports.Snapshot`` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


class Rejected(ValueError):
    """A record that cannot become a row; the message is the reason code, ``detail`` says which column and why."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


@dataclass(frozen=True)
class Reject:
    """A record the export did not write: its id, the reason code, the detail and the record as read."""

    doc_id: str
    reason: str
    detail: str
    data: Mapping[str, Any]


def _max_len(column: Column) -> int:
    """The one limit (shared.limits, derived from the schema) capture also applies."""
    return column_kind(column)[1] or CATEGORICAL_MAX


def _as_long(value: Any) -> int:
    if isinstance(value, bool):
        raise Rejected("bad_long")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, datetime) and value.tzinfo is not None:
        number = int(value.timestamp())
    else:
        raise Rejected("bad_long")
    if number < 0:
        raise Rejected("negative_long")
    return number


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejected("bad_float")
    return float(value)


def _as_string(value: Any, column: Column) -> str:
    if column.categorical and isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            raise Rejected("bad_string")
        # a separator inside one value would silently split it in Personalize
        text = MULTI_SEPARATOR.join(v.replace(MULTI_SEPARATOR, " ").strip() for v in value if v.strip())
    elif isinstance(value, str):
        text = value
    else:
        raise Rejected("bad_string")
    if len(text) > _max_len(column):
        raise Rejected("too_long")
    return text


def normalise(column: Column, value: Any) -> Any:
    """The CSV value of one column, or :class:`Rejected`. ``None`` means an empty (null) cell."""
    if value is None or (isinstance(value, str | list | tuple) and len(value) == 0):
        if column.nullable:
            return None
        raise Rejected("missing_required")
    if column.avro_type == "long" or column.avro_type == "int":
        return _as_long(value)
    if column.avro_type == "float" or column.avro_type == "double":
        return _as_float(value)
    if column.avro_type == "string":
        text = _as_string(value, column)
        if not text and not column.nullable:
            raise Rejected("missing_required")
        return text or None
    raise Rejected(f"unsupported_type_{column.avro_type}")


_CACHE_LIMIT = 100_000
"""Distinct values per column whose check result is kept (ids and event types repeat across rows)."""
_NUMBER_CHECKS: dict[str, Callable[[str, Any, datetime], Any]] = {
    "TIMESTAMP": check_epoch,
    "CREATION_TIMESTAMP": check_epoch,
    "EVENT_VALUE": lambda name, value, _now: check_value(name, value),
}
"""Numeric columns capture checks beyond their type: times within [2010, now], seconds read within a day."""


@dataclass
class _Column:
    """One column's conversion and capture's check of it, with the results of checks already made."""

    column: Column
    check: Callable[[Any], Any] | None
    cache: dict[Any, Any] | None

    def cell(self, value: Any) -> Any:
        try:
            value = normalise(self.column, value)
        except Rejected as exc:
            raise Rejected(exc.reason, f"{self.column.name}: {exc.detail}") from None
        if value is None or self.check is None:
            return value
        if self.cache is None:
            return _checked(self.check, value)
        cached = self.cache.get(value)
        if cached is None:
            try:
                cached = self.check(value)
            except Invalid as exc:
                cached = exc
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[value] = cached
        if isinstance(cached, Invalid):
            raise Rejected(cached.reason.value, cached.detail)
        return cached


def _checked(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except Invalid as exc:
        raise Rejected(exc.reason.value, exc.detail) from None


def _column(schema: DatasetSchema, column: Column, now: datetime) -> _Column:
    name = column.name
    if column.avro_type == "string":
        field_rule = rule(schema.dataset_type, name)
        return _Column(column, lambda text: check_cell(name, text, field_rule), {})
    number_check = _NUMBER_CHECKS.get(name)
    if number_check is None:
        return _Column(column, None, None)
    return _Column(column, lambda value: number_check(name, value, now), None)


@dataclass
class RowConverter:
    """Converts records of one dataset to CSV lines; counts what it rejected and why, and keeps the rejects.

    ``now`` is the export's clock: a time after it (plus capture's skew) is rejected as capture rejects it.
    """

    schema: DatasetSchema
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_ids: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    """The records rejected since the last :meth:`take_rejects`, for the quarantine."""
    impressions: ImpressionIndex | None = None
    """Interactions only: the impressions their IMPRESSION cells are joined from (shared.export.attribution)."""

    def __post_init__(self) -> None:
        self._columns = [_column(self.schema, c, self.now) for c in self.schema.columns]

    def convert(self, record: Record) -> str | None:
        """The record's CSV line (with ``\\n``), or None when it is rejected (counted, kept, id sampled)."""
        data = record.data
        try:
            if self.schema.dataset_type == "interactions":
                data = attributed(data, self.impressions)
            line = csv_line(tuple(c.cell(data.get(c.column.name)) for c in self._columns))
            if not line.isascii():
                line.encode("utf-8")  # a lone surrogate would otherwise fail the whole part's write
        except Rejected as exc:
            self._reject(record, exc.reason, exc.detail)
        except UnicodeEncodeError:
            self._reject(record, "control_chars", "a value holds a lone surrogate (not UTF-8)")
        except Exception as exc:  # no record may stop the export: it is quarantined instead
            self._reject(record, "unparseable", f"{type(exc).__name__}: {exc}"[:500])
        else:
            return line
        return None

    def _reject(self, record: Record, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        if len(self.rejected_ids) < _SAMPLE_IDS:
            self.rejected_ids.append(record.id)
        data = record.data if isinstance(record.data, Mapping) else {"value": record.data}
        self.rejects.append(Reject(record.id, reason, detail, data))

    def take_rejects(self) -> list[Reject]:
        """The rejects kept since the last call (and forget them)."""
        taken, self.rejects = self.rejects, []
        return taken

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())
