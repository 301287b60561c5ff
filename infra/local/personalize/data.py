"""Training data and the building blocks recipes are made of.

Interactions become integer codes (``prepare``); each user's recent history is kept in CSR layout
(``build_history``); the fitted parts (popularity, ALS factors from ``implicit``, BM25 item-item
neighbours, next-item transitions, freshness) are plain numpy / scipy arrays.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)
RECIPE_PREFIX = "arn:aws:personalize:::recipe/"
DEFAULT_RECIPE = "aws-user-personalization"
DAY = 86_400.0
HISTORY_PER_USER = 200
# ALS sweeps over all rows when a fit starts from the factors of a fit on nearly the same rows.
WARM_ALS_ITERATIONS = 2

# Model settings; each can be set through algorithmHyperParameters. The blend_* weights are chosen on
# a validation split at training time unless the solution sets them (see tuning.py).
DEFAULTS: dict[str, float] = {
    "hidden_dimension": 64,
    "als_iterations": 15,
    "als_regularization": 0.05,
    "als_alpha": 10.0,
    "neighbours": 100,
    "recent_items": 10,
    "recent_rank_decay": 0.5,
    "sequence_window": 1,
    "recency_half_life_days": 30.0,
    "session_half_life_hours": 6.0,
    "popularity_half_life_days": 7.0,
    "freshness_half_life_days": 3.0,
    "blend_taste": 0.3,
    "blend_neighbours": 0.3,
    "blend_sequence": 0.3,
    "blend_repeat": 2.0,
    "blend_popularity": 0.0,
    "blend_trending": 0.5,
    "blend_freshness": 0.05,
    # The plain models, searched as candidates and parts (training.PLAIN_MODELS): ALS on plain
    # weighted counts (no decay, no damping) and item-kNN over the user's whole history.
    "blend_plain_taste": 0.0,
    "blend_knn": 0.0,
    # Shown and not clicked (IMPRESSION, impressions.py): a negative part, searched only when the data has impressions.
    "blend_impressed": 0.0,
    "seed": 42,
}
BLEND_PREFIX = "blend_"
BLEND_PARAMS = tuple(k for k in DEFAULTS if k.startswith(BLEND_PREFIX))


@dataclass(frozen=True)
class EventRule:
    """Weight and threshold for one event type (from solutionConfig.eventsConfig)."""

    weight: float
    threshold: float | None = None


@dataclass(frozen=True)
class TrainingConfig:
    """What a solution asks of training."""

    recipe: str
    event_type: str | None = None
    event_value_threshold: float | None = None
    event_rules: Mapping[str, EventRule] = field(default_factory=dict)
    params: Mapping[str, float] = field(default_factory=dict)
    perform_hpo: bool = False
    hpo_config: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> float:
        return float(self.params.get(name, DEFAULTS[name]))


def recipe_name(recipe_arn: str) -> str:
    """``arn:aws:personalize:::recipe/aws-sims`` -> ``aws-sims``."""
    return recipe_arn.rsplit("/", 1)[-1]


def config_from_solution(solution: Mapping[str, Any]) -> TrainingConfig:
    """Read recipe, event weights and hyperparameters from a stored CreateSolution request."""
    cfg = solution.get("solutionConfig") or {}
    rules = {
        p["eventType"]: EventRule(float(p.get("weight", 1.0)), _opt_float(p.get("eventValueThreshold")))
        for p in (cfg.get("eventsConfig") or {}).get("eventParametersList", [])
    }
    params = {k: float(v) for k, v in (cfg.get("algorithmHyperParameters") or {}).items() if k in DEFAULTS}
    return TrainingConfig(
        recipe=recipe_name(solution.get("recipeArn") or RECIPE_PREFIX + DEFAULT_RECIPE),
        event_type=solution.get("eventType"),
        event_value_threshold=_opt_float(cfg.get("eventValueThreshold")),
        event_rules=rules,
        params=params,
        perform_hpo=bool(solution.get("performHPO")),
        hpo_config=cfg.get("hpoConfig") or {},
    )


def _opt_float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


@dataclass
class Prepared:
    """Interactions as integer codes, ready for sparse algebra."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    ts: np.ndarray
    weights: np.ndarray
    event_codes: np.ndarray
    event_types: list[str]
    item_meta: pd.DataFrame | None

    _order: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def by_user_time(self) -> np.ndarray:
        """Row indices sorted by user, then time (ties keep row order); computed once."""
        if self._order is None:
            self._order = user_time_order(self.users, self.ts)
        return self._order

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def select_events(interactions: pd.DataFrame, config: TrainingConfig) -> pd.DataFrame:
    """Keep the events the solution trains on and attach a per-event weight column ``_w``."""
    keep, weights = _selection(interactions, config)
    out = interactions.loc[keep].copy()
    out["_w"] = weights[keep]
    return out


def _selection(df: pd.DataFrame, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Which rows the solution trains on, and each row's event weight."""
    etype = df["EVENT_TYPE"] if "EVENT_TYPE" in df else pd.Series("", index=df.index)
    value = df["EVENT_VALUE"] if "EVENT_VALUE" in df else pd.Series(np.nan, index=df.index)
    keep = np.ones(len(df), dtype=bool)
    if config.event_type:
        keep &= (etype == config.event_type).to_numpy()
    if config.event_value_threshold is not None:
        keep &= ~(value < config.event_value_threshold).to_numpy()
    weights = np.ones(len(df), dtype=np.float32)
    if config.event_rules:
        weights[:] = 0.0
        for name, rule in config.event_rules.items():
            match = (etype == name).to_numpy(copy=True)
            if rule.threshold is not None:
                match &= ~(value < rule.threshold).to_numpy()
            weights[match] = rule.weight
        keep &= weights > 0
    return keep, weights


ID_COLUMNS = ("USER_ID", "ITEM_ID", "EVENT_TYPE")
PACKED_KEY_BITS = 63  # a packed word stays a non-negative int64


def encode_ids(interactions: pd.DataFrame) -> pd.DataFrame:
    """The same rows with the ID and event-type columns dictionary-encoded once (``id_codes``).

    Training splits, groups and encodes the interactions several times (metrics split, validation
    split, each fit); on categorical columns each of those works on integer codes instead of hashing
    millions of strings again.
    """
    columns = {c: id_codes(interactions[c]) for c in ID_COLUMNS if c in interactions}
    return interactions.assign(**columns) if columns else interactions


def canonical_order(interactions: pd.DataFrame) -> pd.DataFrame:
    """The rows sorted by user, time, item and event type: one order whatever order the import read them in.

    Personalize reads a bulk import's rows in any order. Without this, rows tied in time (a session sent in
    one commit shares its server timestamp) kept their file order, which the export does not fix (it follows
    capture order), so the holdout split, the sums behind every score and every tie-break varied from run
    to run. User first: the order then depends only on each user's own sequence, not on how the users'
    events interleave in time. Expects :func:`encode_ids` columns (sorted categories: code order is id order).
    """
    if len(interactions) < 2:
        return interactions

    def codes(column: str) -> np.ndarray:
        values = interactions[column].array
        return np.asarray(values.codes if isinstance(values, pd.Categorical) else pd.factorize(values, sort=True)[0])

    keys = [codes("USER_ID"), interactions["TIMESTAMP"].to_numpy(dtype=np.int64)]
    keys += [codes(column) for column in ("ITEM_ID", "EVENT_TYPE") if column in interactions]
    order = np.lexsort(tuple(reversed(packed_keys(keys))))
    if (np.diff(order) == 1).all():
        return interactions
    return interactions.iloc[order].reset_index(drop=True)


def packed_keys(keys: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Integer sort keys (most significant first) packed into as few int64 words as their ranges allow, in
    the same lexicographic order: ``np.lexsort`` makes one stable pass per key, so on millions of rows
    four keys that fit in two words sort in about half the time."""
    words: list[np.ndarray] = []
    used = PACKED_KEY_BITS + 1  # bits of the last word in use; no word open yet
    for key in keys:
        low, high = (int(key.min()), int(key.max())) if len(key) else (0, 0)
        bits = (high - low).bit_length()
        if bits > PACKED_KEY_BITS:  # a range this wide keeps its own word, as given
            words.append(key)
            used = PACKED_KEY_BITS + 1
            continue
        shifted = key.astype(np.int64) - np.int64(low)
        if used + bits <= PACKED_KEY_BITS:
            words[-1] = (words[-1] << np.int64(bits)) | shifted
            used += bits
        else:
            words.append(shifted)
            used = bits
    return words


def id_codes(column: pd.Series) -> pd.Categorical:
    """A column's values as strings, dictionary-encoded with sorted categories (as ``pd.Categorical``
    of the strings would be); an already encoded column is reused, its unused categories dropped."""
    values = column.array
    if isinstance(values, pd.Categorical) and pd.api.types.infer_dtype(values.categories) == "string":
        if not values.categories.is_monotonic_increasing:
            values = values.set_categories(values.categories.sort_values())
        codes = values.codes
        if len(codes) and codes.min() < 0:  # missing values: pandas' own (slower) path
            return values.remove_unused_categories()
        used = np.bincount(codes, minlength=len(values.categories)) > 0
        if used.all():
            return values
        # remove_unused_categories sorts the codes (np.unique): a bincount and a lookup are linear
        new_codes = (np.cumsum(used) - 1).astype(codes.dtype)[codes]
        return pd.Categorical.from_codes(new_codes, values.categories[used], validate=False)
    return pd.Categorical(column.astype(str))


def prepare(interactions: pd.DataFrame, items: pd.DataFrame | None, config: TrainingConfig) -> Prepared:
    """Encode IDs; the item universe is interacted items (in id order, whatever the rows' order: ties in a score
    are broken by index) plus the items dataset."""
    keep, weights = _selection(interactions, config)
    df = interactions if keep.all() else interactions.loc[keep]
    user_cat = id_codes(df["USER_ID"])
    item_cat = id_codes(df["ITEM_ID"])
    first_seen = np.unique(item_cat.codes)  # sorted codes of sorted categories: id order
    known_items = pd.Index(item_cat.categories[first_seen])
    if items is not None and len(items):
        known_items = known_items.union(pd.Index(items["ITEM_ID"].astype(str).unique()), sort=False)
    position = np.zeros(len(item_cat.categories), dtype=np.int32)
    position[first_seen] = np.arange(len(first_seen), dtype=np.int32)
    etype = df["EVENT_TYPE"] if "EVENT_TYPE" in df else pd.Series("", index=df.index)
    event_cat = id_codes(etype)
    meta = None
    if items is not None and len(items):
        meta = items.drop_duplicates("ITEM_ID", keep="last").set_index("ITEM_ID").reindex(known_items)
    return Prepared(
        user_ids=np.asarray(user_cat.categories, dtype=object),
        item_ids=np.asarray(known_items, dtype=object),
        users=user_cat.codes.astype(np.int32),
        items=position[item_cat.codes],
        ts=df["TIMESTAMP"].to_numpy(dtype=np.int64),
        weights=weights[keep],
        event_codes=event_cat.codes.astype(np.int16),
        event_types=[str(c) for c in event_cat.categories],
        item_meta=meta,
    )


def user_time_order(users: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``np.lexsort((ts, users))``, as one stable sort of a combined int64 key when it fits (2-3x faster)."""
    if not len(ts):
        return np.zeros(0, dtype=np.int64)
    low = int(ts.min())
    span = int(ts.max()) - low + 1
    if (int(users.max()) + 1) * span >= 2**62:
        return np.lexsort((ts, users))
    return np.argsort(users.astype(np.int64) * span + (ts - low), kind="stable")


@dataclass
class History:
    """Each user's most recent interactions, newest last (CSR layout)."""

    indptr: np.ndarray
    items: np.ndarray
    ts: np.ndarray
    events: np.ndarray

    def of(self, user: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = self.indptr[user], self.indptr[user + 1]
        return self.items[lo:hi], self.ts[lo:hi], self.events[lo:hi]


def build_history(data: Prepared, keep: int = HISTORY_PER_USER) -> History:
    """Sort by (user, time) and keep the last ``keep`` events of each user."""
    order = data.by_user_time()
    users = data.users[order]
    counts = np.bincount(users, minlength=data.n_users)
    ends = np.cumsum(counts)
    rank_from_end = ends[users] - np.arange(len(users)) - 1
    sel = order[rank_from_end < keep]
    kept = np.minimum(counts, keep)
    indptr = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
    return History(indptr, data.items[sel], data.ts[sel], data.event_codes[sel])


def user_item_matrix(data: Prepared, half_life_days: float) -> sp.csr_matrix:
    """User x item confidence: event weight decayed by age (at the user's newest event), summed, log-damped."""
    # Age at the user's own newest interaction: older tastes fade, but a user who has been away for
    # a year keeps their taste (a global clock would erase whole rows of long-lived catalogues).
    last = np.full(data.n_users, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, data.users, data.ts)
    age = (last[data.users] - data.ts) / DAY
    val = data.weights * (0.5 ** (age / half_life_days)).astype(np.float32)
    mat = sp.csr_matrix((val, (data.users, data.items)), shape=(data.n_users, data.n_items), dtype=np.float32)
    mat.sum_duplicates()
    mat.data = np.log1p(mat.data)
    return mat


def plain_matrix(data: Prepared) -> sp.csr_matrix:
    """User x item weighted interaction counts: the input of plain ALS and item-kNN (no decay, no damping)."""
    mat = sp.csr_matrix((data.weights.astype(np.float32), (data.users, data.items)), shape=(data.n_users, data.n_items))
    mat.sum_duplicates()
    return mat


def popularity(data: Prepared, half_life_days: float | None) -> np.ndarray:
    """Weighted interaction count per item, optionally decayed by age; scaled to max 1."""
    w = data.weights.astype(np.float64)
    if half_life_days is not None and len(data.ts):
        w = w * 0.5 ** ((data.ts.max() - data.ts) / DAY / half_life_days)
    pop = np.bincount(data.items, weights=w, minlength=data.n_items)
    return (pop / max(float(pop.max(initial=0.0)), 1e-12)).astype(np.float32)


def creation_times(data: Prepared) -> np.ndarray | None:
    """Each item's CREATION_TIMESTAMP (nan where unknown); None without the column."""
    meta = data.item_meta
    if meta is None or "CREATION_TIMESTAMP" not in meta.columns:
        return None
    return pd.to_numeric(meta["CREATION_TIMESTAMP"], errors="coerce").to_numpy(dtype=float)


def freshness(data: Prepared, now: float, half_life_days: float) -> np.ndarray | None:
    """1 for an item created at the newest interaction, halving every half-life; 0 when unknown."""
    created = creation_times(data)
    if created is None:
        return None
    age = np.maximum(now - created, 0.0) / DAY
    fresh: np.ndarray = np.nan_to_num(0.5 ** (age / half_life_days), nan=0.0).astype(np.float32)
    return fresh


def fit_als(
    matrix: sp.csr_matrix, config: TrainingConfig, start: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """ALS factors (implicit); from ``start`` (user, item factors) it runs ``WARM_ALS_ITERATIONS`` sweeps."""
    from implicit.cpu.als import AlternatingLeastSquares

    p = config.param
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=int(p("hidden_dimension")),
            regularization=p("als_regularization"),
            alpha=p("als_alpha"),
            iterations=int(p("als_iterations")) if start is None else WARM_ALS_ITERATIONS,
            random_state=int(p("seed")),
            calculate_training_loss=False,
        )
        if start is not None:
            model.user_factors, model.item_factors = (np.ascontiguousarray(f, dtype=np.float32) for f in start)
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(matrix, show_progress=False)
    log.info(
        "als fit",
        extra={
            "warm": start is not None,
            "users": int(matrix.shape[0]),
            "items": int(matrix.shape[1]),
            "nnz": int(matrix.nnz),
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
        },
    )
    return np.asarray(model.user_factors), np.asarray(model.item_factors)


def aligned(factors: np.ndarray, ids: np.ndarray, new_ids: np.ndarray) -> np.ndarray:
    """Rows of ``factors`` (one per ``ids``) reordered for ``new_ids``; IDs it has no row for get zeros."""
    out = np.zeros((len(new_ids), factors.shape[1]), dtype=np.float32)
    where = pd.Index(ids).get_indexer(pd.Index(new_ids))
    found = where >= 0
    out[found] = factors[where[found]]
    return out


def fit_neighbours(matrix: sp.csr_matrix, config: TrainingConfig) -> sp.csr_matrix:
    """BM25 item-item neighbours (implicit): items consumed by the same users, row-normalised."""
    from implicit.nearest_neighbours import BM25Recommender

    k = int(config.param("neighbours"))
    knn = BM25Recommender(K=k)
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit converts its own BM25 COO to CSR
        knn.fit(matrix, show_progress=False)
    sim = knn.similarity.tocsr().astype(np.float32)
    sim.setdiag(0)
    sim.eliminate_zeros()
    return row_normalise(sim)


def fit_transitions(data: Prepared, backward: float = 0.0, window: int = 1) -> sp.csr_matrix:
    """What follows each item in users' histories: weighted counts of a -> b, row-normalised.

    ``window`` 1: b is the next different item of the same user within a day (the same visit: what
    sims and news want). ``window`` > 1: sequential rules over each user's order, whatever the gap
    (catalogues are consumed over weeks): b up to ``window`` steps after a, weighted 1/steps.
    ``backward`` adds b -> a with that weight (sims wants both directions; the sequence part of
    user-personalization wants what comes *next*). One pass per step: O(window x interactions).
    """
    order = data.by_user_time()
    u, i = data.users[order], data.items[order]
    t = data.ts[order] if window <= 1 else None  # sequential rules: whatever the gap
    steps = range(1, max(int(window), 1) + 1)
    masks = []
    for step in steps:
        nxt = (u[step:] == u[:-step]) & (i[step:] != i[:-step])
        if t is not None:
            nxt &= t[step:] - t[:-step] < DAY
        masks.append(nxt)
    del u, t
    # The pairs of all steps written into one allocation (at 10M rows and window 5: 27M pairs; a list
    # per step and its concatenation held them twice, the peak of a whole training).
    total = sum(int(m.sum()) for m in masks)
    a, b = np.empty(total, dtype=i.dtype), np.empty(total, dtype=i.dtype)
    w = np.empty(total, dtype=np.float32)
    start = 0
    for step, nxt in zip(steps, masks, strict=True):
        end = start + int(nxt.sum())
        a[start:end], b[start:end], w[start:end] = i[:-step][nxt], i[step:][nxt], np.float32(1.0 / step)
        start = end
    del i, masks
    n = data.n_items
    mat = sp.csr_matrix((w, (a, b)), shape=(n, n))
    if backward:
        mat = mat + sp.csr_matrix((backward * w, (b, a)), shape=(n, n))
    del a, b, w
    mat.sum_duplicates()
    return row_normalise(mat.tocsr())


def row_normalise(mat: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row so its largest entry is 1 (in place: ``mat`` is the caller's own, and a product
    with a diagonal matrix would hold a second copy; the same values, zeros dropped as it drops them)."""
    top = np.asarray(mat.max(axis=1).todense(), dtype=np.float32).ravel()
    scale = np.divide(1.0, top, out=np.zeros_like(top), where=top > 0)
    mat.data *= np.repeat(scale, np.diff(mat.indptr))
    mat.eliminate_zeros()
    return mat


def gather_rows(mat: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """``sum_k weights[k] * mat[rows[k]]`` as a dense vector of length ``n``."""
    # Gather the CSR rows by hand: scipy fancy indexing costs more than the arithmetic here.
    starts, lengths = mat.indptr[rows], mat.indptr[rows + 1] - mat.indptr[rows]
    total = int(lengths.sum())
    if not total:
        return np.zeros(n, dtype=np.float32)
    row_start = np.cumsum(lengths) - lengths
    pos = np.repeat(starts - row_start, lengths) + np.arange(total)
    val = mat.data[pos] * np.repeat(weights, lengths)
    return np.bincount(mat.indices[pos], weights=val, minlength=n).astype(np.float32)


def top_n(scores: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``n`` best finite scores, best first (ties broken by index)."""
    s = scores if allowed is None else np.where(allowed, scores, -np.inf)
    n = min(n, int(np.isfinite(s).sum()))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n < len(s):
        # partition + threshold is cheaper than argpartition here (the hot path of every request)
        threshold = np.partition(s, len(s) - n)[len(s) - n]
        part = np.flatnonzero(s >= threshold)
    else:
        part = np.arange(len(s))
    return part[np.lexsort((part, -s[part]))][:n]
