"""Filter expressions: a parser for Personalize's item filter grammar and its evaluation.

Supported: ``INCLUDE|EXCLUDE ItemID WHERE <cond> [AND|OR <cond>]...`` chained with ``|``, where a
condition is ``Items.FIELD`` or ``Interactions.EVENT_TYPE`` with ``IN (...)``, ``NOT IN (...)``,
``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``; values are quoted strings, numbers or ``$PARAM``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from infra.local.personalize.errors import InvalidInputException
from infra.local.personalize.recipes import Model

MAX_EXPRESSION = 2500
MASK_CACHE = 512
TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<param>\$[A-Za-z0-9_]+)'
    r"|(?P<op><=|>=|!=|=|<|>|\(|\)|,)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


@dataclass(frozen=True)
class Condition:
    """``dataset.field op values``; values may hold ``$PARAM`` placeholders."""

    dataset: str
    field: str
    op: str
    values: tuple[str | float, ...]


@dataclass(frozen=True)
class Clause:
    """One ``INCLUDE``/``EXCLUDE`` statement: conditions joined by AND/OR (left to right)."""

    action: str
    conditions: tuple[Condition, ...]
    joins: tuple[str, ...]


def parse(expression: str) -> list[Clause]:
    """Parse a filter expression or raise InvalidInputException."""
    if not expression or len(expression) > MAX_EXPRESSION:
        raise InvalidInputException(f"Filter expression must be 1-{MAX_EXPRESSION} characters.")
    return [_parse_clause(part, expression) for part in _split_pipes(expression)]


def _split_pipes(expression: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in expression:
        if ch == '"':
            quoted = not quoted
        if ch == "|" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _tokens(text: str, expression: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidInputException(f"Invalid filter expression: {expression!r} (near {text[pos : pos + 20]!r}).")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _parse_clause(text: str, expression: str) -> Clause:
    toks = _tokens(text, expression)
    words = [v.upper() for _, v in toks[:3]]
    if len(toks) < 4 or words[0] not in ("INCLUDE", "EXCLUDE") or words[1] != "ITEMID" or words[2] != "WHERE":
        raise InvalidInputException(f"Invalid filter expression: {expression!r}.")
    conditions, joins, pos = [], [], 3
    while True:
        cond, pos = _parse_condition(toks, pos, expression)
        conditions.append(cond)
        if pos >= len(toks):
            break
        join = toks[pos][1].upper()
        if join not in ("AND", "OR"):
            raise InvalidInputException(f"Invalid filter expression: {expression!r}.")
        joins.append(join)
        pos += 1
    return Clause(words[0], tuple(conditions), tuple(joins))


def _parse_condition(toks: list[tuple[str, str]], pos: int, expression: str) -> tuple[Condition, int]:
    bad = InvalidInputException(f"Invalid filter expression: {expression!r}.")
    if pos >= len(toks) or toks[pos][0] != "word" or "." not in toks[pos][1]:
        raise bad
    dataset, field = toks[pos][1].split(".", 1)
    if dataset not in ("Items", "Interactions") or (dataset == "Interactions" and field != "EVENT_TYPE"):
        raise InvalidInputException(f"Unsupported filter field {toks[pos][1]!r} in {expression!r}.")
    pos += 1
    op, pos = _parse_op(toks, pos, bad)
    if op in ("IN", "NOT IN"):
        values, pos = _parse_list(toks, pos, bad)
    else:
        if pos >= len(toks):
            raise bad
        values, pos = (_value(toks[pos], bad),), pos + 1
    return Condition(dataset, field, op, values), pos


def _parse_op(toks: list[tuple[str, str]], pos: int, bad: Exception) -> tuple[str, int]:
    if pos >= len(toks):
        raise bad
    word = toks[pos][1].upper()
    if word == "NOT" and pos + 1 < len(toks) and toks[pos + 1][1].upper() == "IN":
        return "NOT IN", pos + 2
    if word == "IN" or (toks[pos][0] == "op" and word in ("=", "!=", "<", "<=", ">", ">=")):
        return word, pos + 1
    raise bad


def _parse_list(toks: list[tuple[str, str]], pos: int, bad: Exception) -> tuple[tuple[str | float, ...], int]:
    if pos >= len(toks) or toks[pos][1] != "(":
        raise bad
    values, pos = [], pos + 1
    while pos < len(toks):
        values.append(_value(toks[pos], bad))
        pos += 1
        if pos < len(toks) and toks[pos][1] == ",":
            pos += 1
            continue
        if pos < len(toks) and toks[pos][1] == ")":
            return tuple(values), pos + 1
        raise bad
    raise bad


def _value(tok: tuple[str, str], bad: Exception) -> str | float:
    kind, text = tok
    if kind == "str":
        return text[1:-1].replace('\\"', '"')
    if kind == "num":
        return float(text)
    if kind == "param":
        return text
    raise bad


def parse_filter_values(raw: dict[str, str] | None) -> dict[str, list[str]]:
    """``{"GENRE": "\\"Comedy\\",\\"Drama\\""}`` -> ``{"GENRE": ["Comedy", "Drama"]}``."""
    out: dict[str, list[str]] = {}
    for key, text in (raw or {}).items():
        found = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
        out[key.lstrip("$")] = found if found else [v.strip() for v in text.split(",") if v.strip()]
    return out


def allowed_items(clauses: list[Clause], model: Model, user_id: str | None, values: dict[str, list[str]]) -> np.ndarray:
    """Boolean mask over the model's items that pass every clause."""
    allowed = np.ones(model.n_items, dtype=bool)
    for clause in clauses:
        match = _clause_mask(clause, model, user_id, values)
        if match is None:
            continue
        allowed &= match if clause.action == "INCLUDE" else ~match
    return allowed


def _clause_mask(clause: Clause, model: Model, user_id: str | None, values: dict[str, list[str]]) -> np.ndarray | None:
    result: np.ndarray | None = None
    for k, cond in enumerate(clause.conditions):
        resolved = _resolve(cond, values, clause.action)
        if resolved is None:
            continue
        mask = _condition_mask(cond, resolved, model, user_id)
        if result is not None:
            mask = result & mask if clause.joins[k - 1] == "AND" else result | mask
        result = mask
    return result


def _resolve(cond: Condition, values: dict[str, list[str]], action: str) -> list[str | float] | None:
    """Substitute ``$PARAM``s; EXCLUDE parts with a missing value are skipped as Personalize does."""
    out: list[str | float] = []
    for v in cond.values:
        if isinstance(v, str) and v.startswith("$"):
            if v[1:] not in values:
                if action == "EXCLUDE":
                    return None
                raise InvalidInputException(f"Missing filter value for {v}.")
            out.extend(values[v[1:]])
        else:
            out.append(v)
    return out


def _condition_mask(cond: Condition, values: list[str | float], model: Model, user_id: str | None) -> np.ndarray:
    if cond.dataset == "Interactions":
        return _interactions_mask(cond, values, model, user_id)
    # Item metadata is frozen in the model, so a condition's mask can be reused across requests.
    key = (cond.field, cond.op, tuple(values))
    cached = model.item_masks.get(key)
    if cached is None:
        if len(model.item_masks) >= MASK_CACHE:
            model.item_masks.clear()
        cached = model.item_masks[key] = _items_mask(cond, values, model)
    return cached


def _items_mask(cond: Condition, values: list[str | float], model: Model) -> np.ndarray:
    meta = model.item_meta
    if meta is None or cond.field not in meta.columns:
        return np.zeros(model.n_items, dtype=bool) if cond.op != "NOT IN" else np.ones(model.n_items, dtype=bool)
    column = meta[cond.field]
    if cond.op in ("IN", "NOT IN", "=", "!="):
        wanted = {str(v) for v in values} | {_num_text(v) for v in values}
        hit: np.ndarray = column.map(lambda cell: _any_in(cell, wanted)).to_numpy(dtype=bool)
        return ~hit if cond.op in ("NOT IN", "!=") else hit
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    bound = float(values[0])
    ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
    with np.errstate(invalid="ignore"):
        return np.asarray(ops[cond.op](numbers, bound), dtype=bool)


def _num_text(v: str | float) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _any_in(cell: object, wanted: set[str]) -> bool:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return False
    return any(part in wanted for part in str(cell).split("|"))


def _interactions_mask(cond: Condition, values: list[str | float], model: Model, user_id: str | None) -> np.ndarray:
    mask = np.zeros(model.n_items, dtype=bool)
    uidx = model.user_index.get(user_id) if user_id is not None else None
    if uidx is not None:
        items, _, events = model.history.of(uidx)
        wanted = {str(v) for v in values}
        if "*" in wanted:
            mask[items] = True
        else:
            codes = [k for k, name in enumerate(model.event_types) if name in wanted]
            mask[items[np.isin(events, codes)]] = True
    return ~mask if cond.op in ("NOT IN", "!=") else mask
