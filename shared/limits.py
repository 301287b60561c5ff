"""The one set of value limits: what capture accepts is exactly what the export writes.

Lengths and kinds come from the Personalize Avro schemas (:mod:`shared.schema`): a ``USER_ID`` /
``ITEM_ID`` column is an id (at most 256 characters), a ``categorical`` string holds values joined
with ``|`` (at most 1,000 characters in all), a ``textual`` one at most 20,000 characters. On top of
that, columns the *client* controls get a closed vocabulary or a strict pattern (``FIELD_RULES``), so
that no cell a spreadsheet would execute (``=1+1``, ``@cmd``, ``+x``, ``-x``) can reach a CSV.

Use :func:`rule` to get a column's :class:`FieldRule`, then ``rule.problem(text)`` to check a value
(``None`` when it is fine) and :func:`join_multi` to build a multi-value cell that always fits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from shared.schema import Column, DatasetType, load_schema

ID_MAX_CHARS = 256
"""Personalize: USER_ID and ITEM_ID at most 256 characters."""
CATEGORICAL_MAX_CHARS = 1000
"""Personalize: a categorical cell at most 1,000 characters (the import job fails otherwise)."""
TEXTUAL_MAX_CHARS = 20_000
"""Personalize: a textual cell at most 20,000 characters."""
MULTI_SEPARATOR = "|"
"""Personalize's separator of several categorical values in one cell."""
DOCUMENT_ID_MAX_BYTES = 1500
"""Firestore: a document id is at most 1,500 bytes of UTF-8."""
RESOURCE_NAME_MAX_CHARS = 63
"""Personalize: a resource or job name is 1-63 characters, ``^[a-zA-Z0-9][a-zA-Z0-9\\-_]*``."""
VALID_RESOURCE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}$")
SOLUTION_SLOT_SUFFIX = "-b"
"""storyrec: the serving solution's second slot is ``<name>-b`` (shared.personalize.names.second_slot)."""
SOLUTION_NAME_MAX_CHARS = RESOURCE_NAME_MAX_CHARS - len(SOLUTION_SLOT_SUFFIX)
"""storyrec: the serving solution's name leaves room for its second slot's suffix (the IAM policy names both)."""
"""Firestore: a document id is at most 1,500 bytes of UTF-8."""

CSV_HOSTILE = frozenset(',"|')
"""Break a CSV row or Personalize's multi-value separator when inside an id or categorical value."""
FORMULA_LEADS = frozenset("=+-@")
"""A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection")."""
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
"""Numeric ids such as Deskdrop's ``-4110354420726924665`` start with '-' but are plain numbers."""
_RESERVED_ID = re.compile(r"__.*__", re.DOTALL)


class Kind(StrEnum):
    """How a column's values are checked."""

    ID = "id"
    ID_LIST = "id_list"
    """Ids joined with ``|`` (IMPRESSION): at most ``IMPRESSION_MAX_IDS``, distinct, each an id."""
    CATEGORICAL = "categorical"
    TEXTUAL = "textual"
    STRING = "string"
    LONG = "long"
    FLOAT = "float"


class Problem(StrEnum):
    """Why a value breaks a limit; capture uses the same strings as quarantine reasons."""

    EMPTY_VALUE = "empty_value"
    TOO_LONG = "too_long"
    CONTROL_CHARS = "control_chars"
    CSV_HOSTILE = "csv_hostile"
    FORMULA = "formula_like"
    NOT_IN_VOCABULARY = "not_in_vocabulary"
    BAD_PATTERN = "bad_pattern"
    INVALID_ID = "invalid_id"
    TOO_MANY = "too_many"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Violation:
    """A broken limit: its code and a short, safe-to-log explanation."""

    problem: Problem
    detail: str


@dataclass(frozen=True)
class Overlay:
    """Rules a schema cannot express: a closed vocabulary or a pattern, and a case to normalise to."""

    vocabulary: frozenset[str] | None = None
    pattern: str | None = None
    case: str | None = None  # "lower" | "upper"


EVENT_TYPES = ("open", "read", "comment", "like", "save")
DEVICES = ("web", "desktop", "mobile", "tablet", "ios", "android", "ios-app", "android-app", "tv", "other")
LANGUAGE_PATTERN = r"[a-z]{2,3}(-[a-z0-9]{2,8}){0,3}"
"""A BCP 47 tag in lower case (``en``, ``pt-br``, ``zh-hant``)."""
COUNTRY_PATTERN = r"[A-Z]{2}"
"""An ISO 3166-1 alpha-2 code in upper case."""
ATTRIBUTION_SOURCES = ("storyrec-control", "storyrec-challenger", "storyrec-popular", "latest")
"""The closed vocabulary of a click's or an impression's ``source`` (EVENT_ATTRIBUTION_SOURCE): the lists
storyrec makes without a Personalize recommendation id. Personalize accepts at most 100 sources per
dataset group, so a client may not invent them; firestore.rules lists the same values (checked by a test)."""
IMPRESSION_MAX_IDS = 25
"""Personalize: an impression lists at most 25 item ids."""

FIELD_RULES: dict[tuple[DatasetType, str], Overlay] = {
    ("interactions", "EVENT_TYPE"): Overlay(vocabulary=frozenset(EVENT_TYPES), case="lower"),
    ("interactions", "DEVICE"): Overlay(vocabulary=frozenset(DEVICES), case="lower"),
    ("interactions", "EVENT_ATTRIBUTION_SOURCE"): Overlay(vocabulary=frozenset(ATTRIBUTION_SOURCES)),
    ("items", "LANGUAGE"): Overlay(pattern=LANGUAGE_PATTERN, case="lower"),
    ("users", "LANGUAGE"): Overlay(pattern=LANGUAGE_PATTERN, case="lower"),
    ("users", "COUNTRY"): Overlay(pattern=COUNTRY_PATTERN, case="upper"),
}
"""Client-controlled columns: values outside these are refused at capture (and never exported)."""


def has_control_chars(value: str) -> bool:
    """True if any character is a control or format character (newline, tab, NUL, bidi marks...)."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") for ch in value)


def formula_like(value: str) -> bool:
    """True if a spreadsheet would read the value as a formula (a plain signed number is not one)."""
    return bool(value) and value[0] in FORMULA_LEADS and _NUMBER.fullmatch(value) is None


@dataclass(frozen=True)
class FieldRule:
    """Every limit on one column of one dataset."""

    dataset: DatasetType
    column: str
    kind: Kind
    nullable: bool
    max_chars: int | None
    vocabulary: frozenset[str] | None = None
    pattern: str | None = None
    case: str | None = None

    @property
    def multi(self) -> bool:
        """Whether the cell may hold several values joined with ``|``."""
        return self.kind is Kind.CATEGORICAL and self.vocabulary is None and self.pattern is None

    def normalise(self, value: str) -> str:
        """Trim and apply the column's case (before :meth:`problem`)."""
        text = value.strip()
        if self.case == "lower":
            return text.lower()
        return text.upper() if self.case == "upper" else text

    def problem(self, value: str) -> Violation | None:
        """What is wrong with one (already normalised) value, or None. Multi-value cells: check each part."""
        if value.strip() == "":
            return Violation(Problem.EMPTY_VALUE, "is empty")
        if self.kind is Kind.ID_LIST:  # each part is an id (ids_problem checks them one by one)
            return ids_problem(value.split(MULTI_SEPARATOR))
        if self.max_chars is not None and len(value) > self.max_chars:
            return Violation(Problem.TOO_LONG, f"is {len(value)} characters (limit {self.max_chars})")
        if self.kind is Kind.TEXTUAL:
            return None
        if has_control_chars(value):
            return Violation(Problem.CONTROL_CHARS, "contains control characters")
        hostile = sorted(CSV_HOSTILE.intersection(value))
        if hostile:
            return Violation(Problem.CSV_HOSTILE, f"contains {''.join(hostile)!r}")
        if self.kind is Kind.ID:
            bad_id = id_problem(value)
            if bad_id is not None:
                return bad_id
        # a signed number is a harmless id, but a categorical value leads its cell: no sign allowed there
        if formula_like(value) or (self.kind is not Kind.ID and value[0] in FORMULA_LEADS):
            return Violation(Problem.FORMULA, f"starts with {value[0]!r} (a spreadsheet formula)")
        if self.vocabulary is not None and value not in self.vocabulary:
            allowed = ", ".join(sorted(self.vocabulary))
            return Violation(Problem.NOT_IN_VOCABULARY, f"{value[:50]!r} is not one of {allowed}")
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return Violation(Problem.BAD_PATTERN, f"{value[:50]!r} does not match {self.pattern}")
        return None

    def cell_problem(self, cell: str) -> Violation | None:
        """What is wrong with a whole CSV cell of this column (as the export writes it), or None."""
        if self.kind is Kind.ID_LIST:
            return ids_problem(cell.split(MULTI_SEPARATOR)) if cell else None
        if self.max_chars is not None and len(cell) > self.max_chars:
            return Violation(Problem.TOO_LONG, f"is {len(cell)} characters (limit {self.max_chars})")
        if self.kind is Kind.TEXTUAL:
            return Violation(Problem.FORMULA, "starts like a formula") if formula_like(cell) else None
        if self.kind in (Kind.LONG, Kind.FLOAT) or cell == "":
            return None
        for part in cell.split(MULTI_SEPARATOR) if self.multi else [cell]:
            problem = self.problem(part)
            if problem is not None:
                return problem
        return None


ID_NAMES = frozenset({"USER_ID", "ITEM_ID", "RECOMMENDATION_ID"})
"""Columns holding one id (Personalize: at most 256 characters; storyrec: the document-id rules too)."""
ID_LIST_NAMES = frozenset({"IMPRESSION"})
"""Columns holding ``|``-joined item ids."""


def ids_problem(values: list[str]) -> Violation | None:
    """Why a list of item ids cannot be an impression (1..25 distinct ids), or None."""
    if not values:
        return Violation(Problem.EMPTY_VALUE, "lists no id")
    if len(values) > IMPRESSION_MAX_IDS:
        return Violation(Problem.TOO_MANY, f"lists {len(values)} ids (limit {IMPRESSION_MAX_IDS})")
    if len(set(values)) != len(values):
        return Violation(Problem.DUPLICATE, "lists an id twice")
    item = FieldRule("interactions", "IMPRESSION", Kind.ID, False, ID_MAX_CHARS)
    for i, value in enumerate(values):
        problem = item.problem(value)
        if problem is not None:
            return Violation(problem.problem, f"[{i}] {problem.detail}")
    return None


def id_problem(value: str) -> Violation | None:
    """Why a string cannot be a document id (and so a path segment), or None.

    Firestore: at most 1,500 bytes, no '/', not '.' or '..', not ``__...__``. Checked before any
    id becomes part of a path, so ``s1/comments/c1`` can never address a sub-document.
    """
    if value == "":
        return Violation(Problem.EMPTY_VALUE, "is empty")
    if len(value.encode("utf-8", "surrogatepass")) > DOCUMENT_ID_MAX_BYTES:
        return Violation(Problem.TOO_LONG, f"is over {DOCUMENT_ID_MAX_BYTES} bytes")
    if "/" in value:
        return Violation(Problem.INVALID_ID, "contains '/' (a path, not an id)")
    if value in (".", "..") or _RESERVED_ID.fullmatch(value):
        return Violation(Problem.INVALID_ID, f"{value[:20]!r} is reserved by Firestore")
    return None


def column_kind(column: Column) -> tuple[Kind, int | None]:
    """A schema column's kind and longest cell, from its Avro type and ``categorical``/``textual`` flags."""
    if column.name in ID_NAMES:
        return Kind.ID, ID_MAX_CHARS
    if column.name in ID_LIST_NAMES:
        return Kind.ID_LIST, IMPRESSION_MAX_IDS * (ID_MAX_CHARS + 1) - 1
    if column.avro_type in ("long", "int"):
        return Kind.LONG, None
    if column.avro_type in ("float", "double"):
        return Kind.FLOAT, None
    if column.textual:
        return Kind.TEXTUAL, TEXTUAL_MAX_CHARS
    if column.categorical:
        return Kind.CATEGORICAL, CATEGORICAL_MAX_CHARS
    return Kind.STRING, CATEGORICAL_MAX_CHARS


@cache
def rules(dataset: DatasetType) -> tuple[FieldRule, ...]:
    """The rules of every column of a dataset, in schema order."""
    out = []
    for column in load_schema(dataset).columns:
        overlay = FIELD_RULES.get((dataset, column.name), Overlay())
        kind, limit = column_kind(column)
        out.append(
            FieldRule(
                dataset, column.name, kind, column.nullable, limit, overlay.vocabulary, overlay.pattern, overlay.case
            )
        )
    return tuple(out)


def rule(dataset: DatasetType, column: str) -> FieldRule:
    """The rule of one column; KeyError if the schema has no such column."""
    for r in rules(dataset):
        if r.column == column:
            return r
    raise KeyError(f"{dataset} has no column {column}")


def max_chars(dataset: DatasetType, column: str) -> int | None:
    """The longest string the column's CSV cell may hold (None for numbers)."""
    return rule(dataset, column).max_chars


def join_multi(field_rule: FieldRule, values: list[str]) -> tuple[str | None, list[str]]:
    """Join checked values with ``|`` keeping whole values, in order, while the cell fits its limit.

    Returns the cell (None if empty) and the values that did not fit, so a story with many tags is
    captured *and* exported with the tags that fit instead of being dropped by the export.
    """
    limit = field_rule.max_chars or CATEGORICAL_MAX_CHARS
    kept: list[str] = []
    dropped: list[str] = []
    size = 0
    for value in values:
        extra = len(value) + (1 if kept else 0)
        if size + extra <= limit:
            kept.append(value)
            size += extra
        else:
            dropped.append(value)
    return (MULTI_SEPARATOR.join(kept) or None), dropped


def neutralise_text(value: str) -> str:
    """A textual value safe in a spreadsheet: a leading formula character gets a ``'`` in front."""
    return "'" + value if formula_like(value) else value
