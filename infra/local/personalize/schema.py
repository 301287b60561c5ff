"""Personalize (Avro) schemas: parsing, dataset-type requirements and CSV validation."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from infra.local.personalize.errors import InvalidInputException

PRIMITIVES = {"string", "long", "int", "float", "double", "boolean"}
REQUIRED_BY_TYPE: dict[str, dict[str, set[str]]] = {
    "Interactions": {"USER_ID": {"string"}, "ITEM_ID": {"string"}, "TIMESTAMP": {"long", "int"}},
    "Items": {"ITEM_ID": {"string"}},
    "Users": {"USER_ID": {"string"}},
}
ID_FIELDS = {"Interactions": None, "Items": "ITEM_ID", "Users": "USER_ID"}
MAX_ID_LENGTH = 256


class ImportFailed(Exception):
    """The data does not fit the schema; the message becomes the job's failureReason."""


@dataclass(frozen=True)
class Field:
    """One schema field: its primitive type and whether null is allowed."""

    name: str
    type: str
    nullable: bool


def parse_schema(text: str) -> list[Field]:
    """Parse an Avro record schema as CreateSchema accepts it, or raise InvalidInputException."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidInputException(f"Schema is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "record" or not isinstance(doc.get("fields"), list):
        raise InvalidInputException("Schema must be an Avro record with a list of fields.")
    fields = [_parse_field(f) for f in doc["fields"]]
    if not fields:
        raise InvalidInputException("Schema must have at least one field.")
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise InvalidInputException("Schema field names must be unique.")
    return fields


def _parse_field(raw: object) -> Field:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or "type" not in raw:
        raise InvalidInputException(f"Invalid schema field: {raw!r}")
    kind = raw["type"]
    types = kind if isinstance(kind, list) else [kind]
    nullable = "null" in types
    rest = [t for t in types if t != "null"]
    if len(rest) != 1 or rest[0] not in PRIMITIVES:
        raise InvalidInputException(f"Unsupported type {kind!r} for field {raw['name']}.")
    return Field(raw["name"], rest[0], nullable)


def check_dataset_type(fields: list[Field], dataset_type: str) -> None:
    """A dataset's schema must carry the fields its type requires."""
    required = REQUIRED_BY_TYPE.get(dataset_type)
    if required is None:
        raise InvalidInputException(f"Invalid datasetType {dataset_type!r}: use Interactions, Items or Users.")
    by_name = {f.name: f for f in fields}
    for name, allowed in required.items():
        field = by_name.get(name)
        if field is None or field.type not in allowed or field.nullable:
            raise InvalidInputException(
                f"Schema for a {dataset_type} dataset needs a non-null field {name} of type {sorted(allowed)}."
            )


def read_csv(payload: bytes, fields: list[Field]) -> pd.DataFrame:
    """Parse and type one CSV file against the schema, or raise ImportFailed."""
    try:
        raw = pd.read_csv(io.BytesIO(payload), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"Unable to parse the CSV file: {exc}") from exc
    header = list(raw.columns)
    by_name = {f.name: f for f in fields}
    unknown = [c for c in header if c not in by_name]
    if unknown:
        raise ImportFailed(f"Input CSV header has columns that are not in the schema: {unknown}.")
    missing = [f.name for f in fields if not f.nullable and f.name not in header]
    if missing:
        raise ImportFailed(f"Input CSV is missing the required columns {missing}.")
    out = {name: _convert(raw[name], by_name[name]) for name in header}
    for field in fields:
        if field.name not in out:
            out[field.name] = _convert(pd.Series([""] * len(raw), dtype=object), field)
    return pd.DataFrame(out)


def _convert(col: pd.Series, field: Field) -> pd.Series:
    empty = col == ""
    if empty.any() and not field.nullable:
        row = int(np.flatnonzero(empty.to_numpy())[0]) + 2
        raise ImportFailed(f"Row {row}: the required field {field.name} is empty.")
    if field.type == "string":
        too_long = col.str.len() > MAX_ID_LENGTH
        if field.name in ("USER_ID", "ITEM_ID") and too_long.any():
            raise ImportFailed(f"{field.name} values must be at most {MAX_ID_LENGTH} characters.")
        return col.where(~empty, None)
    if field.type == "boolean":
        lowered = col.str.lower()
        bad = ~(lowered.isin(["true", "false"]) | empty)
        _reject(bad, col, field)
        return lowered.map({"true": True, "false": False})
    numbers = pd.to_numeric(col.where(~empty, None), errors="coerce")
    bad = numbers.isna() & ~empty
    if field.type in ("long", "int"):
        bad |= ~empty & numbers.notna() & (numbers % 1 != 0)
        _reject(bad, col, field)
        return numbers.astype("Int64") if field.nullable else numbers.astype("int64")
    _reject(bad, col, field)
    return numbers.astype("float64")


def _reject(bad: pd.Series, col: pd.Series, field: Field) -> None:
    if bad.any():
        idx = int(np.flatnonzero(bad.to_numpy())[0])
        raise ImportFailed(f"Row {idx + 2}: value {col.iloc[idx]!r} of field {field.name} is not of type {field.type}.")


def merge(old: pd.DataFrame | None, new: pd.DataFrame, dataset_type: str, full: bool) -> pd.DataFrame:
    """Apply an import: FULL replaces, INCREMENTAL adds; IDs replace, identical events kept once."""
    frames = [new] if full or old is None else [old, new]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else new
    key = ID_FIELDS.get(dataset_type)
    if key:
        return df.drop_duplicates(subset=[key], keep="last").reset_index(drop=True)
    return df.drop_duplicates().reset_index(drop=True)
