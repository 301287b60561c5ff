"""Recipes: turn interactions (+ items) into a model that scores items for a user or an item.

Built on ``implicit`` (ALS, BM25 item-item neighbours), scipy sparse and numpy. The
user-personalization recipe is tuned for news: it blends long-term taste (ALS) with what the user
read last (item-item neighbours and next-item transitions of the user's recent reads, decayed by
age), the user's own recent reads (people re-open stories) and recent popularity of fresh items.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

RECIPE_PREFIX = "arn:aws:personalize:::recipe/"
POPULARITY = "aws-popularity-count"
TRENDING = "aws-trending-now"
USER_PERSONALIZATION = "aws-user-personalization"
USER_PERSONALIZATION_V2 = "aws-user-personalization-v2"
SIMS = "aws-sims"
RANKING = "aws-personalized-ranking"
RECIPES = (POPULARITY, TRENDING, USER_PERSONALIZATION, USER_PERSONALIZATION_V2, SIMS, RANKING)
USER_RECIPES = (USER_PERSONALIZATION, USER_PERSONALIZATION_V2)
DAY = 86_400.0
HISTORY_PER_USER = 200

# Blend weights and decay settings, tuned on Deskdrop with seeds disjoint from the reported ones;
# each can be overridden through algorithmHyperParameters.
DEFAULTS: dict[str, float] = {
    "hidden_dimension": 64,
    "als_iterations": 15,
    "als_regularization": 0.05,
    "als_alpha": 10.0,
    "neighbours": 100,
    "recent_items": 10,
    "recency_half_life_days": 30.0,
    "session_half_life_hours": 6.0,
    "popularity_half_life_days": 7.0,
    "blend_taste": 0.3,
    "blend_sequence": 0.6,
    "blend_repeat": 2.0,
    "blend_popularity": 0.5,
    "blend_freshness": 0.05,
    "freshness_half_life_days": 3.0,
    "seed": 42,
}


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
        recipe=recipe_name(solution.get("recipeArn") or RECIPE_PREFIX + USER_PERSONALIZATION),
        event_type=solution.get("eventType"),
        event_value_threshold=_opt_float(cfg.get("eventValueThreshold")),
        event_rules=rules,
        params=params,
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

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def select_events(interactions: pd.DataFrame, config: TrainingConfig) -> pd.DataFrame:
    """Keep the events the solution trains on and attach a per-event weight column ``_w``."""
    df = interactions
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
    out = df.loc[keep].copy()
    out["_w"] = weights[keep]
    return out


def prepare(interactions: pd.DataFrame, items: pd.DataFrame | None, config: TrainingConfig) -> Prepared:
    """Encode IDs; the item universe is interacted items plus the items dataset."""
    df = select_events(interactions, config)
    user_cat = pd.Categorical(df["USER_ID"].astype(str))
    item_values = df["ITEM_ID"].astype(str)
    known_items = pd.Index(item_values.unique())
    if items is not None and len(items):
        known_items = known_items.union(pd.Index(items["ITEM_ID"].astype(str).unique()), sort=False)
    item_cat = pd.Categorical(item_values, categories=known_items)
    etype = df["EVENT_TYPE"].astype(str) if "EVENT_TYPE" in df else pd.Series("", index=df.index)
    event_cat = pd.Categorical(etype)
    meta = None
    if items is not None and len(items):
        meta = items.drop_duplicates("ITEM_ID", keep="last").set_index("ITEM_ID").reindex(known_items)
    return Prepared(
        user_ids=np.asarray(user_cat.categories, dtype=object),
        item_ids=np.asarray(known_items, dtype=object),
        users=user_cat.codes.astype(np.int32),
        items=item_cat.codes.astype(np.int32),
        ts=df["TIMESTAMP"].to_numpy(dtype=np.int64),
        weights=df["_w"].to_numpy(dtype=np.float32),
        event_codes=event_cat.codes.astype(np.int16),
        event_types=[str(c) for c in event_cat.categories],
        item_meta=meta,
    )


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
    order = np.lexsort((data.ts, data.users))
    users = data.users[order]
    counts = np.bincount(users, minlength=data.n_users)
    ends = np.cumsum(counts)
    rank_from_end = ends[users] - np.arange(len(users)) - 1
    sel = order[rank_from_end < keep]
    kept = np.minimum(counts, keep)
    indptr = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
    return History(indptr, data.items[sel], data.ts[sel], data.event_codes[sel])


@dataclass
class Model:
    """A trained solution version: everything the runtime needs to answer requests."""

    recipe: str
    config: TrainingConfig
    user_ids: np.ndarray
    item_ids: np.ndarray
    history: History
    event_types: list[str]
    item_meta: pd.DataFrame | None
    popularity: np.ndarray
    freshness: np.ndarray | None = None
    user_factors: np.ndarray | None = None
    item_factors: np.ndarray | None = None
    neighbours: sp.csr_matrix | None = None
    reference_time: float = 0.0
    _user_index: dict[str, int] | None = field(default=None, repr=False)
    _item_index: dict[str, int] | None = field(default=None, repr=False)
    _prior_scores: np.ndarray | None = field(default=None, repr=False)
    item_masks: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_user_index"] = state["_item_index"] = state["_prior_scores"] = None
        state["item_masks"] = {}
        return state

    @property
    def user_index(self) -> dict[str, int]:
        if self._user_index is None:
            self._user_index = {u: k for k, u in enumerate(self.user_ids)}
        return self._user_index

    @property
    def item_index(self) -> dict[str, int]:
        if self._item_index is None:
            self._item_index = {i: k for k, i in enumerate(self.item_ids)}
        return self._item_index

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def score_user(self, user_id: str | None) -> np.ndarray:
        """Scores over all items for a user (unknown users get the popularity prior)."""
        uidx = self.user_index.get(user_id) if user_id is not None else None
        if uidx is None or self.recipe in (POPULARITY, TRENDING):
            return self.popularity.copy()
        if self.recipe == SIMS:
            hist_items, hist_ts, _ = self.history.of(uidx)
            return self._sequence_scores(hist_items, hist_ts) + 1e-3 * self.popularity
        return self._blend(uidx)

    def score_item(self, item_id: str) -> np.ndarray | None:
        """Scores of items similar to ``item_id``; None if the item is unknown."""
        iidx = self.item_index.get(item_id)
        if iidx is None:
            return None
        scores = 1e-3 * self.popularity
        if self.neighbours is not None:
            row = self.neighbours.getrow(iidx)
            scores[row.indices] += row.data / max(float(row.data.max(initial=0.0)), 1e-9)
        scores[iidx] = -np.inf
        return scores

    def _blend(self, uidx: int) -> np.ndarray:
        p = self.config.param
        hist_items, hist_ts, _ = self.history.of(uidx)
        scores = self._prior().copy()
        if self.user_factors is not None and self.item_factors is not None:
            taste = self.item_factors @ self.user_factors[uidx]
            taste *= p("blend_taste") / max(float(taste.max()), -float(taste.min()), 1e-9)
            scores += taste
        seq = self._sequence_scores(hist_items, hist_ts)
        seq *= p("blend_sequence") / max(float(seq.max(initial=0.0)), 1e-9)
        scores += seq
        if len(hist_items):
            age = (hist_ts[-1] - hist_ts) / DAY
            rep = np.bincount(
                hist_items, weights=0.5 ** (age / p("recency_half_life_days")), minlength=len(scores)
            )
            scores += p("blend_repeat") / max(float(rep.max()), 1e-9) * rep
        return scores.astype(np.float32, copy=False)

    def _prior(self) -> np.ndarray:
        """The user-independent part of the blend: recent popularity plus freshness (cached)."""
        if self._prior_scores is None:
            p = self.config.param
            prior = p("blend_popularity") * self.popularity.astype(np.float32)
            if self.freshness is not None:
                prior += p("blend_freshness") * self.freshness
            self._prior_scores = prior
        return self._prior_scores

    def _sequence_scores(self, hist_items: np.ndarray, hist_ts: np.ndarray) -> np.ndarray:
        """Neighbours of the user's last few items, the most recent counting most."""
        out = np.zeros(self.n_items, dtype=np.float32)
        if self.neighbours is None or not len(hist_items):
            return out
        n = int(self.config.param("recent_items"))
        items, ts = hist_items[-n:], hist_ts[-n:]
        hours = (ts[-1] - ts) / 3600.0
        w = 0.5 ** (hours / self.config.param("session_half_life_hours")) + 0.5 ** np.arange(len(items))[::-1]
        # Gather the CSR rows by hand: scipy fancy indexing costs more than the arithmetic here.
        nb = self.neighbours
        starts, lengths = nb.indptr[items], nb.indptr[items + 1] - nb.indptr[items]
        total = int(lengths.sum())
        if not total:
            return out
        row_start = np.cumsum(lengths) - lengths
        pos = np.repeat(starts - row_start, lengths) + np.arange(total)
        val = nb.data[pos] * np.repeat(w, lengths)
        return np.bincount(nb.indices[pos], weights=val, minlength=self.n_items).astype(np.float32)


def _user_item_matrix(data: Prepared, half_life_days: float) -> sp.csr_matrix:
    """User x item confidence: event weight decayed by age, summed, then log-damped."""
    age = (data.ts.max() - data.ts) / DAY if len(data.ts) else np.zeros(0)
    val = data.weights * (0.5 ** (age / half_life_days)).astype(np.float32)
    mat = sp.csr_matrix((val, (data.users, data.items)), shape=(data.n_users, data.n_items), dtype=np.float32)
    mat.sum_duplicates()
    mat.data = np.log1p(mat.data)
    return mat


def _popularity(data: Prepared, half_life_days: float | None) -> np.ndarray:
    """Weighted interaction count per item, optionally decayed by age; scaled to max 1."""
    w = data.weights.astype(np.float64)
    if half_life_days is not None and len(data.ts):
        w = w * 0.5 ** ((data.ts.max() - data.ts) / DAY / half_life_days)
    pop = np.bincount(data.items, weights=w, minlength=data.n_items)
    return (pop / max(float(pop.max(initial=0.0)), 1e-12)).astype(np.float32)


def _freshness(data: Prepared, now: float, half_life_days: float) -> np.ndarray | None:
    """1 for an item created at the newest interaction, halving every half-life; 0 when unknown."""
    meta = data.item_meta
    if meta is None or "CREATION_TIMESTAMP" not in meta.columns:
        return None
    created = pd.to_numeric(meta["CREATION_TIMESTAMP"], errors="coerce").to_numpy(dtype=float)
    age = np.maximum(now - created, 0.0) / DAY
    fresh: np.ndarray = np.nan_to_num(0.5 ** (age / half_life_days), nan=0.0).astype(np.float32)
    return fresh


def _fit_als(matrix: sp.csr_matrix, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    from implicit.cpu.als import AlternatingLeastSquares

    p = config.param
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=int(p("hidden_dimension")),
            regularization=p("als_regularization"),
            alpha=p("als_alpha"),
            iterations=int(p("als_iterations")),
            random_state=int(p("seed")),
            calculate_training_loss=False,
        )
        model.fit(matrix, show_progress=False)
    return np.asarray(model.user_factors), np.asarray(model.item_factors)


def _fit_neighbours(matrix: sp.csr_matrix, data: Prepared, config: TrainingConfig) -> sp.csr_matrix:
    """BM25 item-item neighbours (implicit) plus next-item transitions within reading sessions."""
    from implicit.nearest_neighbours import BM25Recommender

    k = int(config.param("neighbours"))
    knn = BM25Recommender(K=k)
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit converts its own BM25 COO to CSR
        knn.fit(matrix, show_progress=False)
    sim = knn.similarity.tocsr().astype(np.float32)
    sim.setdiag(0)
    sim.eliminate_zeros()
    sim = _row_normalise(sim)
    return (sim + _row_normalise(_transitions(data))).tocsr()


def _transitions(data: Prepared) -> sp.csr_matrix:
    """Counts of item a read followed by a different item b by the same user within a day."""
    order = np.lexsort((data.ts, data.users))
    u, i, t = data.users[order], data.items[order], data.ts[order]
    nxt = (u[1:] == u[:-1]) & (i[1:] != i[:-1]) & (t[1:] - t[:-1] < DAY)
    a, b = i[:-1][nxt], i[1:][nxt]
    ones = np.ones(len(a), dtype=np.float32)
    n = data.n_items
    mat = sp.csr_matrix((ones, (a, b)), shape=(n, n)) + sp.csr_matrix((0.5 * ones, (b, a)), shape=(n, n))
    mat.sum_duplicates()
    return mat.tocsr()


def _row_normalise(mat: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row so its largest entry is 1."""
    top = np.asarray(mat.max(axis=1).todense(), dtype=np.float32).ravel()
    scale = np.divide(1.0, top, out=np.zeros_like(top), where=top > 0)
    return (sp.diags(scale) @ mat).tocsr()


def train(interactions: pd.DataFrame, items: pd.DataFrame | None, config: TrainingConfig) -> Model:
    """Train one model for ``config.recipe``."""
    if config.recipe not in RECIPES:
        raise ValueError(f"unknown recipe {config.recipe}")
    data = prepare(interactions, items, config)
    p = config.param
    half_life = None if config.recipe == POPULARITY else p("popularity_half_life_days")
    pop = _popularity(data, half_life)
    model = Model(
        recipe=config.recipe,
        config=config,
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        history=build_history(data),
        event_types=data.event_types,
        item_meta=data.item_meta,
        popularity=pop,
        reference_time=float(data.ts.max()) if len(data.ts) else 0.0,
    )
    model.freshness = _freshness(data, model.reference_time, p("freshness_half_life_days"))
    if config.recipe in (POPULARITY, TRENDING):
        return model
    matrix = _user_item_matrix(data, p("recency_half_life_days"))
    model.neighbours = _fit_neighbours(matrix, data, config)
    if config.recipe in (*USER_RECIPES, RANKING):
        model.user_factors, model.item_factors = _fit_als(matrix, config)
    return model


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
