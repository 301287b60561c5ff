"""Record → CSV row conversion, driven by the Personalize Avro schema.

A converter turns one ML record (a Firestore document's data) into a CSV line with the schema's
columns in order, or rejects it with a reason. The common case runs through a function generated from the schema
(one straight-line type check per column, no per-column calls) because it is the export's hot loop;
anything unusual falls back to :func:`normalise`, which either repairs the value (int → float,
a list of categorical values → ``a|b``, a datetime → epoch seconds) or rejects the row.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Protocol

from shared.export.csvfiles import csv_line
from shared.limits import CATEGORICAL_MAX_CHARS, ID_MAX_CHARS, MULTI_SEPARATOR, TEXTUAL_MAX_CHARS, column_kind
from shared.schema import Column, DatasetSchema

ID_MAX = ID_MAX_CHARS
CATEGORICAL_MAX = CATEGORICAL_MAX_CHARS
TEXTUAL_MAX = TEXTUAL_MAX_CHARS
_SAMPLE_IDS = 20

Row = tuple[Any, ...]
Entry = tuple[int, str, str]
"""An interaction's CSV line with its sort key in front: (TIMESTAMP, click id, line)."""


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


def _check(column: Column, var: str) -> str:
    """A Python expression that is true when ``var`` can go into the CSV as it is."""
    if column.avro_type in ("long", "int"):
        test = f"(type({var}) is int and {var} >= 0)"
    elif column.avro_type in ("float", "double"):
        test = f"(type({var}) is float and -_INF < {var} < _INF)"
    elif column.avro_type == "string":
        test = f"(type({var}) is str and 0 < len({var}) <= {_max_len(column)})"
    else:
        test = "False"
    return f"({var} is None or {test})" if column.nullable else test


def _format(column: Column, var: str) -> str:
    return f"{{'' if {var} is None else {var}}}" if column.nullable else f"{{{var}}}"


def _source(schema: DatasetSchema, keyed: bool) -> str:
    """The generated converter: fetch, type-check and format a row in straight-line code.

    The f-string line equals :func:`csv_line` whenever no field needs quoting, which the separator
    counts prove; otherwise the row goes through :func:`csv_line`.
    """
    cols = schema.columns
    names = [f"v{i}" for i in range(len(cols))]
    checks = " and ".join(_check(c, v) for v, c in zip(names, cols, strict=True))
    line = ",".join(_format(c, v) for v, c in zip(names, cols, strict=True))
    # one itemgetter call fetches every column; a missing field (KeyError) takes the slow path
    fetch = "(_get(record.data),)" if len(cols) == 1 else "_get(record.data)"
    ts = names[schema.header.index("TIMESTAMP")] if keyed else ""
    wrap = (lambda body: f"({ts}, record.id, {body})") if keyed else (lambda body: body)
    return (
        "def convert(record):\n"
        "    try:\n"
        f"        row = {fetch}\n"
        "    except KeyError:\n"
        "        pass\n"
        "    else:\n"
        f"        {', '.join(names)}, = row\n"
        f"        if {checks}:\n"
        f'            line = f"{line}\\n"\n'
        f"            if line.count(',') == {len(cols) - 1} and line.count('\\n') == 1 "
        "and '\"' not in line and '\\r' not in line:\n"
        f"                return {wrap('line')}\n"
        f"            return {wrap('_line(row)')}\n"
        "    row = _slow(record)\n"
        f"    return None if row is None else {'(row[_TS], record.id, _line(row))' if keyed else '_line(row)'}\n"
    )


@dataclass
class RowConverter:
    """Converts records of one dataset; counts what it rejected and why."""

    schema: DatasetSchema
    keyed: bool = False
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_ids: list[str] = field(default_factory=list)
    convert: Callable[[Record], Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.keyed and "TIMESTAMP" not in self.schema.header:
            raise ValueError(f"{self.schema.dataset_type} has no TIMESTAMP column to sort by")
        namespace: dict[str, Any] = {
            "_INF": math.inf,
            "_slow": self._slow,
            "_TS": self.schema.header.index("TIMESTAMP") if self.keyed else -1,
            "_get": itemgetter(*self.schema.header),
            "_line": csv_line,
        }
        exec(compile(_source(self.schema, self.keyed), f"<rows:{self.schema.dataset_type}>", "exec"), namespace)
        self.convert = namespace["convert"]

    def _slow(self, record: Record) -> Row | None:
        try:
            return tuple(normalise(c, record.data.get(c.name)) for c in self.schema.columns)
        except Rejected as exc:
            self.rejected[str(exc)] += 1
            if len(self.rejected_ids) < _SAMPLE_IDS:
                self.rejected_ids.append(record.id)
            return None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())
