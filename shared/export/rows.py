"""Record → CSV row conversion, driven by the Personalize Avro schema.

A converter turns one ML record (a Firestore document's data) into a CSV line with the schema's
columns in order, or rejects it with a reason: :func:`normalise` either repairs a value (int → float,
a list of categorical values → ``a|b``, a datetime → epoch seconds) or rejects the row. Plain code on
purpose: conversion is a few per cent of a run whose time goes to reading Firestore.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.export.csvfiles import csv_line
from shared.limits import CATEGORICAL_MAX_CHARS, ID_MAX_CHARS, MULTI_SEPARATOR, TEXTUAL_MAX_CHARS, column_kind
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
    """A record that cannot become a row; the message is the reason code."""


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


@dataclass
class RowConverter:
    """Converts records of one dataset to CSV lines; counts what it rejected and why."""

    schema: DatasetSchema
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_ids: list[str] = field(default_factory=list)

    def convert(self, record: Record) -> str | None:
        """The record's CSV line (with ``\\n``), or None when it is rejected (counted, id sampled)."""
        data = record.data
        try:
            row = tuple(normalise(c, data.get(c.name)) for c in self.schema.columns)
        except Rejected as exc:
            self.rejected[str(exc)] += 1
            if len(self.rejected_ids) < _SAMPLE_IDS:
                self.rejected_ids.append(record.id)
            return None
        return csv_line(row)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())
