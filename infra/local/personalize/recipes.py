"""Recipes: one ``Recipe`` object per Personalize recipe, in one registry (``RECIPES``).

A recipe says what it fits, how it scores items for a user (and for an item, if it answers with an
item), what a campaign of it answers (user, item or ranking requests), whether it needs a userId,
whether ``trainingMode=UPDATE`` applies and whether training chooses its blend on validation data.
A new recipe is one entry in ``RECIPES``; nothing else compares recipe names.

A trained solution version is a ``Model``: plain arrays plus the recipe's name and a format version
(``MODEL_FORMAT``) that the store checks before it loads a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from infra.local.personalize import impressions
from infra.local.personalize.data import (
    BLEND_PARAMS,
    BLEND_PREFIX,
    DAY,
    History,
    Prepared,
    TrainingConfig,
    aligned,
    build_history,
    creation_times,
    fit_als,
    fit_neighbours,
    fit_transitions,
    freshness,
    gather_rows,
    plain_matrix,
    popularity,
    prepare,
    user_item_matrix,
)

# Bump when Model's fields change: the store refuses models (and state) of another format.
MODEL_FORMAT = 4
# Items a user already interacted with sink below every other item when blend_repeat < 0.
SEEN_PENALTY = 1e3
# The parts of the user-personalization blend, in the order tuning stores them.
COMPONENTS = tuple(p[len(BLEND_PREFIX) :] for p in BLEND_PARAMS)
GLOBAL_COMPONENTS = ("popularity", "trending", "freshness")
# The parts that read the user's last items, shaped by sequence_window and recent_rank_decay.
SHAPED_COMPONENTS = ("neighbours", "sequence")
# The plain models' own parts (ALS of plain counts, item-kNN of the whole history): fitted when the
# search needs them as candidates or the blend gives them a weight.
PLAIN_COMPONENTS = ("plain_taste", "knn")

Answers = Literal["USER", "ITEM", "RANKING"]
Part = Literal["als", "neighbours", "transitions"]


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
    trending: np.ndarray
    freshness: np.ndarray | None = None
    user_factors: np.ndarray | None = None
    item_factors: np.ndarray | None = None
    neighbours: sp.csr_matrix | None = None
    transitions: sp.csr_matrix | None = None
    plain_user_factors: np.ndarray | None = None
    plain_item_factors: np.ndarray | None = None
    knn: sp.csr_matrix | None = None
    impressions: sp.csr_matrix | None = None  # users x items shown and not clicked (impressions.py)
    weights: dict[str, float] = field(default_factory=dict)
    tuned_params: dict[str, float | str] = field(default_factory=dict)
    reference_time: float = 0.0
    item_interactions: np.ndarray | None = None
    """Weighted interactions per item in the training data: 0 marks a cold item (known from Items alone)."""
    item_created: np.ndarray | None = None
    """CREATION_TIMESTAMP per item (nan where unknown)."""
    exploration_bonus: np.ndarray | None = field(default=None, repr=False)
    """Added to every user's scores by a serving view with item exploration (autoupdate.explored); never stored."""
    format_version: int = MODEL_FORMAT
    _user_index: dict[str, int] | None = field(default=None, repr=False)
    _item_index: dict[str, int] | None = field(default=None, repr=False)
    _prior_scores: np.ndarray | None = field(default=None, repr=False)
    item_masks: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_user_index"] = state["_item_index"] = state["_prior_scores"] = state["exploration_bonus"] = None
        state["item_masks"] = {}
        return state

    @property
    def spec(self) -> Recipe:
        return RECIPES[self.recipe]

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
        """Scores over all items for a user (unknown users get the popularity prior), plus the serving
        view's exploration of cold items, if it has one."""
        uidx = self.user_index.get(user_id) if user_id is not None else None
        if uidx is not None:
            scores = self.spec.score_user(self, uidx)
        elif self.spec.tuned and self._prior().any():  # the blend's user-independent part
            scores = self._prior() + 1e-3 * self.popularity
        else:
            scores = self.popularity.copy()
        return scores if self.exploration_bonus is None else scores + self.exploration_bonus

    def score_item(self, item_id: str) -> np.ndarray | None:
        """Scores of items related to ``item_id``; None if the item is unknown."""
        iidx = self.item_index.get(item_id)
        if iidx is None:
            return None
        one = np.array([iidx]), np.ones(1, dtype=np.float32)
        scores = 1e-3 * self.popularity
        for part in (self.neighbours, self.transitions):
            if part is not None:
                scores = scores + gather_rows(part, *one, self.n_items)
        scores[iidx] = -np.inf
        return scores

    # The user-personalization blend
    def components(self, uidx: int, names: tuple[str, ...] = COMPONENTS) -> dict[str, np.ndarray]:
        """Each part of the blend for one user, scaled so its largest magnitude is 1."""
        out: dict[str, np.ndarray] = {}
        hist_items, hist_ts, _ = self.history.of(uidx)
        for name in names:
            vec = self._component(name, uidx, hist_items, hist_ts)
            if vec is not None:
                top = max(float(vec.max(initial=0.0)), -float(vec.min(initial=0.0)))
                out[name] = vec / top if top > 0 else vec
        return out

    def _component(self, name: str, uidx: int, hist_items: np.ndarray, hist_ts: np.ndarray) -> np.ndarray | None:
        p = self.config.param
        if name == "taste":
            if self.user_factors is None or self.item_factors is None:
                return None
            return np.asarray(self.item_factors @ self.user_factors[uidx], dtype=np.float32)
        if name == "plain_taste":
            if self.plain_user_factors is None or self.plain_item_factors is None:
                return None
            return np.asarray(self.plain_item_factors @ self.plain_user_factors[uidx], dtype=np.float32)
        if name == "popularity":
            return self.popularity
        if name == "trending":
            return self.trending
        if name == "freshness":
            return self.freshness
        if name == "impressed":
            return None if self.impressions is None else impressions.penalty(self.impressions, uidx)
        if not len(hist_items):
            return np.zeros(self.n_items, dtype=np.float32)
        if name == "knn":  # plain item-kNN: neighbours of every item in the history, alike
            if self.knn is None:
                return None
            return gather_rows(self.knn, hist_items, np.ones(len(hist_items), dtype=np.float32), self.n_items)
        if name == "repeat":
            age = (hist_ts[-1] - hist_ts) / DAY
            weights = 0.5 ** (age / p("recency_half_life_days"))
            return np.bincount(hist_items, weights=weights, minlength=self.n_items).astype(np.float32)
        n = int(p("recent_items"))
        items, ts = hist_items[-n:], hist_ts[-n:]
        by_rank = p("recent_rank_decay") ** np.arange(len(items), dtype=np.float32)[::-1]
        if name == "sequence":  # what followed the user's last items, the newest counting most
            if self.transitions is None:
                return None
            return gather_rows(self.transitions, items, by_rank, self.n_items)
        if name == "neighbours":  # items like the ones read in this session
            if self.neighbours is None:
                return None
            hours = (ts[-1] - ts) / 3600.0
            weights = 0.5 ** (hours / p("session_half_life_hours")) + by_rank
            return gather_rows(self.neighbours, items, weights.astype(np.float32), self.n_items)
        raise ValueError(f"unknown blend component {name}")

    def blend(self, uidx: int) -> np.ndarray:
        """The weighted sum of the blend's parts (``weights``); seen items sink if blend_repeat < 0."""
        w = self.weights
        scores = self._prior().copy()
        personal = tuple(c for c in COMPONENTS if c not in GLOBAL_COMPONENTS and w.get(c, 0.0) > 0)
        for name, vec in self.components(uidx, personal).items():
            scores += w[name] * vec
        if w.get("repeat", 0.0) < 0:
            seen = self.history.of(uidx)[0]
            scores[seen] -= SEEN_PENALTY
        return scores

    def _prior(self) -> np.ndarray:
        """The user-independent part of the blend (cached)."""
        if self._prior_scores is None:
            prior = np.zeros(self.n_items, dtype=np.float32)
            for name in GLOBAL_COMPONENTS:
                vec = getattr(self, name)
                if vec is not None and self.weights.get(name, 0.0):
                    prior += self.weights[name] * vec
            self._prior_scores = prior
        return self._prior_scores


@dataclass(frozen=True)
class Recipe:
    """What one recipe fits, how it scores, and which requests and training modes it takes."""

    name: str
    answers: Answers
    score_user: Callable[[Model, int], np.ndarray]
    parts: frozenset[Part] = frozenset()
    needs_user: bool = False
    supports_update: bool = False
    auto_updates: bool = False  # Personalize adds new items to its latest version every two hours (autoupdate.py)
    tuned: bool = False
    popularity_decays: bool = False  # the item prior decays with popularity_half_life_days
    backward_transitions: float = 0.0

    @property
    def arn(self) -> str:
        return f"arn:aws:personalize:::recipe/{self.name}"


def _popular(model: Model, uidx: int) -> np.ndarray:
    return model.popularity.copy()


def _trending(model: Model, uidx: int) -> np.ndarray:
    return model.trending.copy()


def _blend(model: Model, uidx: int) -> np.ndarray:
    return model.blend(uidx)


def _related_to_history(model: Model, uidx: int) -> np.ndarray:
    parts = model.components(uidx, ("neighbours", "sequence"))
    return sum(parts.values(), 1e-3 * model.popularity)


def _user_personalization(name: str) -> Recipe:
    return Recipe(
        name,
        "USER",
        _blend,
        frozenset({"als", "neighbours", "transitions"}),
        needs_user=True,
        supports_update=True,
        auto_updates=True,
        tuned=True,
    )


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("aws-popularity-count", "USER", _popular),
        Recipe("aws-trending-now", "USER", _trending, popularity_decays=True),
        _user_personalization("aws-user-personalization"),
        _user_personalization("aws-user-personalization-v2"),
        Recipe(
            "aws-sims",
            "ITEM",
            _related_to_history,
            frozenset({"neighbours", "transitions"}),
            popularity_decays=True,
            backward_transitions=0.5,
        ),
        Recipe(
            "aws-personalized-ranking",
            "RANKING",
            _blend,
            frozenset({"als", "neighbours", "transitions"}),
            needs_user=True,
            tuned=True,
        ),
    )
}


def recipe(name: str) -> Recipe:
    """The registered recipe called ``name`` (ValueError if there is none)."""
    found = RECIPES.get(name)
    if found is None:
        raise ValueError(f"unknown recipe {name}")
    return found


def fit(
    interactions: pd.DataFrame,
    items: pd.DataFrame | None,
    config: TrainingConfig,
    weights: dict[str, float] | None = None,
    warm_start: Model | None = None,
    plain: bool | None = None,
    plain_from_taste: bool = False,
    data: Prepared | None = None,
) -> Model:
    """Fit ``config.recipe``'s parts; the blend uses ``weights`` (default: the config's blend_* values).

    ``warm_start``: a model fitted with the same settings on nearly the same rows; ALS starts from its
    factors (matched by ID) and runs a few sweeps instead of a fit from scratch. ``plain``: fit the
    plain models' parts (default: when the blend weighs them); ``plain_from_taste``: their ALS starts
    from the taste part's factors and runs a few sweeps (large data, where a second fit from scratch
    would double the training time). ``data``: ``prepare(interactions, items, config)`` when the
    caller already has it.
    """
    spec = recipe(config.recipe)
    if data is None:
        data = prepare(interactions, items, config)
    p = config.param
    trending = popularity(data, p("popularity_half_life_days"))
    model = Model(
        recipe=spec.name,
        config=config,
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        history=build_history(data),
        event_types=data.event_types,
        item_meta=data.item_meta,
        popularity=trending if spec.popularity_decays else popularity(data, None),
        trending=trending,
        reference_time=float(data.ts.max()) if len(data.ts) else 0.0,
        item_interactions=np.bincount(data.items, weights=data.weights, minlength=data.n_items).astype(np.float32),
        item_created=creation_times(data),
    )
    model.freshness = freshness(data, model.reference_time, p("freshness_half_life_days"))
    if weights is None:
        weights = {c: p(BLEND_PREFIX + c) for c in COMPONENTS}
    model.weights = dict(weights)
    if not spec.parts:
        return model
    if spec.tuned:
        model.impressions = impressions.shown_not_clicked(interactions, model.user_ids, model.item_ids)
    matrix = user_item_matrix(data, p("recency_half_life_days"))
    if "neighbours" in spec.parts:
        model.neighbours = fit_neighbours(matrix, config)
    if "transitions" in spec.parts:
        model.transitions = fit_transitions(data, spec.backward_transitions, int(p("sequence_window")))
    if "als" in spec.parts:
        start = _start(warm_start, model, "user_factors", "item_factors")
        model.user_factors, model.item_factors = fit_als(matrix, config, start)
    if plain is None:
        plain = any(model.weights.get(c, 0.0) for c in PLAIN_COMPONENTS)
    if plain and {"als", "neighbours"} <= spec.parts:
        counts = plain_matrix(data)
        model.knn = fit_neighbours(counts, config)
        start = _start(warm_start, model, "plain_user_factors", "plain_item_factors")
        if start is None and plain_from_taste and model.user_factors is not None and model.item_factors is not None:
            start = (model.user_factors.copy(), model.item_factors.copy())  # ALS updates its start in place
        model.plain_user_factors, model.plain_item_factors = fit_als(counts, config, start)
    return model


def factors_only(model: Model, plain: bool) -> Model:
    """What a warm start reads of ``model``: IDs, settings, blend and ALS factors (the plain ones if
    ``plain``). Its history, neighbours and transitions are dropped, so that on large data they are
    freed before the next fit instead of living beside the new model's."""
    empty = np.zeros(0, dtype=np.int64)
    return replace(
        model,
        history=History(np.zeros(len(model.user_ids) + 1, dtype=np.int64), empty, empty, empty),
        neighbours=None,
        transitions=None,
        knn=None,
        plain_user_factors=model.plain_user_factors if plain else None,
        plain_item_factors=model.plain_item_factors if plain else None,
        _prior_scores=None,
        item_masks={},
    )


def _start(warm_start: Model | None, model: Model, users: str, items: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``warm_start``'s factors (fields ``users``, ``items``) aligned to ``model``'s IDs; None if it has none."""
    if warm_start is None or getattr(warm_start, users) is None or getattr(warm_start, items) is None:
        return None
    return (
        aligned(getattr(warm_start, users), warm_start.user_ids, model.user_ids),
        aligned(getattr(warm_start, items), warm_start.item_ids, model.item_ids),
    )
