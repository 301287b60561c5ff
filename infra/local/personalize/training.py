"""Training: fit a recipe, choosing a tuned recipe's blend (and, with HPO, its settings) from the data.

For user-personalization (and -v2, and personalized-ranking) the weights of the blend's parts —
long-term taste (ALS), item neighbours of the session, next-item transitions, the user's own items
(repeat consumption; a negative weight excludes them), all-time popularity, recent popularity,
freshness — are chosen on a validation split carved out of the training rows with the protocol of the
offline metrics (users drawn at random, their newest interactions held out). The search is bounded:
it starts from the simple models (pure popularity of unseen items, pure ALS of unseen items, pure
transitions, ...) and the solution's defaults, then moves one weight at a time over a small grid while
the objective improves. It only ever accepts a better candidate, so the chosen blend is never worse on
validation than the best simple model. With ``performHPO`` the other settings (ALS size, half-lives,
...) are drawn from ``hpoConfig.algorithmHyperParameterRanges`` for ``maxNumberOfTrainingJobs`` trials,
each with its own blend search. Between searches (trials, sequence shapes, trending half-lives) the
same rule picks as within one: the best objective, or a blend close to it that covers more of the
catalogue (``preferred``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from infra.local.personalize import impressions
from infra.local.personalize.data import (
    BLEND_PREFIX,
    Prepared,
    TrainingConfig,
    fit_transitions,
    popularity,
    prepare,
)
from infra.local.personalize.hpo import HpoPlan, check_limits
from infra.local.personalize.metrics import K_VALUES, coarse_timestamps, split_holdout, split_in_time
from infra.local.personalize.recipes import (
    COMPONENTS,
    GLOBAL_COMPONENTS,
    PLAIN_COMPONENTS,
    SEEN_PENALTY,
    SHAPED_COMPONENTS,
    Model,
    factors_only,
    fit,
    recipe,
)

log = logging.getLogger(__name__)

VALIDATION_SEED = 7
VALIDATION_USER_FRACTION = 0.25
MAX_VALIDATION_USERS = 1000
POOL_PER_COMPONENT = 100
MAX_EVALUATIONS = 120
# How fast "recent popularity" forgets, tried on validation (news: days; films: months).
TRENDING_HALF_LIVES = (7.0, 30.0, 120.0)
HALF_LIFE = "popularity_half_life_days"
# When the validation split held out at most this share of the rows (large data: at most
# MAX_VALIDATION_USERS users' newest interactions), the final model's ALS starts from the validation
# model's factors and runs a few sweeps over all rows instead of a second fit from scratch: the two
# fits would differ by the effect of under 1% of the rows.
WARM_START_MAX_HELD_OUT = 0.01
# How the sequence part reads a history, tried on validation: how many steps ahead a transition may
# reach (1: the next item only; more: sequential rules weighted 1/steps) and how fast the user's older
# items fade (news: the last item decides; films rated in bursts: the last several count).
SEQUENCE_SHAPES: dict[str, tuple[float, ...]] = {"sequence_window": (1.0, 5.0), "recent_rank_decay": (0.5, 0.85)}
# Among blends within this fraction of the best objective (and no worse than any simple model), the
# one with the best objective x coverage ** COVERAGE_WEIGHT wins: coverage is a reported metric too,
# and a blend that shows everyone the same popular items is a poor stand-in for a personal one. The
# trade is in relative terms (1% more coverage is worth COVERAGE_WEIGHT % of the objective), so it is
# the same whatever the objective's scale (NDCG@25 about 0.4, precision@25 about 0.04, a mean over
# splits whose scores differ fourfold) and whatever the catalogue's size or the validation users' count.
COVERAGE_TOLERANCE = 0.15
COVERAGE_WEIGHT = 0.5
GRID: dict[str, tuple[float, ...]] = {c: (0.0, 0.1, 0.3, 1.0, 3.0) for c in COMPONENTS}
GRID["repeat"] = (-1.0, 0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
# The plain models a user would compare against, in their plain form (weights not named are 0):
# popularity and trending of unseen items, ALS of plain counts (no recency decay, no damping) and
# item-kNN over the whole history, seen items excluded. The chosen blend is never below any of them
# on validation: they are starts of the search and floors of the coverage preference.
PLAIN_MODELS: dict[str, dict[str, float]] = {
    "popularity-unseen": {"popularity": 1.0, "repeat": -1.0},
    "trending-unseen": {"trending": 1.0, "repeat": -1.0},
    "plain-als-unseen": {"plain_taste": 1.0, "repeat": -1.0},
    "item-knn-unseen": {"knn": 1.0, "repeat": -1.0},
}
# The simple models the search starts from: the plain ones and the engine's own parts alone.
SIMPLE_MODELS: dict[str, dict[str, float]] = {
    **PLAIN_MODELS,
    "als-unseen": {"taste": 1.0, "repeat": -1.0},
    "neighbours-unseen": {"neighbours": 1.0, "repeat": -1.0},
    "sequence-unseen": {"sequence": 1.0, "repeat": -1.0},
    "repeat": {"repeat": 1.0},
}
# The validation split mirrors use (a model trained on the past answers for the next period) when the
# timestamps allow: the newest TIME_VALIDATION_SHARE of the rows, at most TIME_VALIDATION_MAX_ROWS (so
# large data keeps the warm-start path), and at least MIN_TIME_VALIDATION_USERS returning users. A
# coarse timestamp puts its whole period on one side; when that period holds more than
# MAX_TIME_HOLDOUT_SHARE of the rows, or too few users return, the split is the metrics' protocol.
TIME_VALIDATION_SHARE = 0.1
TIME_VALIDATION_MAX_ROWS = 50_000
MIN_TIME_VALIDATION_USERS = 25
MAX_TIME_HOLDOUT_SHARE = 0.3


def train(interactions: pd.DataFrame, items: pd.DataFrame | None, config: TrainingConfig) -> Model:
    """Train one model for ``config.recipe``; tuned recipes choose their blend on validation data."""
    spec = recipe(config.recipe)
    for name, value in config.params.items():
        check_limits(name, value)
    if not spec.tuned:
        return fit(interactions, items, config)
    choice = choose(interactions, items, config)
    model = fit(interactions, items, choice.config, choice.weights, choice.warm_start)
    model.tuned_params = choice.reported
    return model


@dataclass
class Choice:
    """The settings and blend weights training settled on, and how they scored on validation."""

    config: TrainingConfig
    weights: dict[str, float]
    objective: str
    score: float | None = None
    simple_scores: dict[str, float] = field(default_factory=dict)
    candidate: str = "defaults"  # which start the chosen weights are, or "blend"
    everywhere: bool = False  # at least the best plain model on every validation split
    coverage: float = float("nan")  # on validation, beside ``score``
    reported: dict[str, float | str] = field(default_factory=dict)
    warm_start: Model | None = None  # the validation model, when the final fit may start from it


def choose(interactions: pd.DataFrame, items: pd.DataFrame | None, config: TrainingConfig) -> Choice:
    """Pick settings (HPO trials) and blend weights on a validation split of ``interactions``."""
    plan = HpoPlan.from_config(config)
    fixed = {c: float(config.params[BLEND_PREFIX + c]) for c in COMPONENTS if BLEND_PREFIX + c in config.params}
    defaults = {c: config.param(BLEND_PREFIX + c) for c in COMPONENTS}
    split = validation_split(interactions)
    # every part fixed by the solution ("impressed" counts as fixed without the IMPRESSION column)
    free = set(COMPONENTS) - set(fixed) - (set() if impressions.COLUMN in interactions else {"impressed"})
    if not split.truths or (not free and not plan.trials):
        return Choice(config, defaults, plan.objective)
    best: Choice | None = None
    searched: list[Choice] = []  # each search's choice (a sequence shape and a trending half-life)
    # One validation fit per distinct training set of the protocols scored.
    frames = {id(split.trains[name]): split.trains[name] for name in split.truths}
    warm = len(frames) == 1 and len(interactions) - len(split.train) <= WARM_START_MAX_HELD_OUT * len(interactions)
    log.info(
        "validation split",
        extra={
            "kind": split.kind,
            "fits": len(frames),
            "rows": len(interactions),
            "held_out_rows": len(interactions) - min(len(frame) for frame in frames.values()),
            "warm": warm,
        },
    )
    spec = recipe(config.recipe)
    for trial_config in plan.configs(config):
        half_lives = [trial_config.param(HALF_LIFE)]
        if HALF_LIFE not in config.params and HALF_LIFE not in plan.ranges:
            half_lives = sorted({*half_lives, *TRENDING_HALF_LIVES})
        shapes = [replace(trial_config, params={**trial_config.params, **s}) for s in _sequence_shapes(config, plan)]
        fits = {
            key: _Fitted.of(frame, items, trial_config, defaults, warm, half_lives, shapes, spec.backward_transitions)
            for key, frame in frames.items()
        }
        owners = [fits[id(split.trains[name])] for name in split.truths]
        pools = [
            Pool.build(f.shaped[0], truth, f.trending, f.shaped[1:])
            for f, truth in zip(owners, split.truths.values(), strict=True)
        ]
        for k, shape in enumerate(shapes):
            for pool in pools:
                pool.set_shape(k)
            for j, half_life in enumerate(half_lives):
                for pool, owner in zip(pools, owners, strict=True):
                    pool.set_global("trending", owner.trending[j])
                search = Search(pools, plan.objective, plan.maximize, plan.grids, _pinned(fixed, owners[0].model))
                weights, score = impressions_if_clear(search, *search.run(defaults))
                chosen = replace(shape, params={**shape.params, HALF_LIFE: half_life})
                choice = Choice(chosen, weights, plan.objective, score, search.simple_scores, search.name_of(weights))
                choice.everywhere = search.everywhere
                choice.coverage = search.tried.get(search.key(weights), (score, float("nan")))[1]
                choice.warm_start = owners[0].model if warm else None
                searched.append(choice)
                best = preferred(searched, plan.maximize)
            if best is not None and best.config.params.get(HALF_LIFE) in half_lives:
                keep = half_lives.index(best.config.params[HALF_LIFE])  # the other shapes keep the best one
                half_lives = [half_lives[keep]]
                for f in fits.values():
                    f.trending = [f.trending[keep]]
        # Memory as with one best kept: an earlier trial's validation model is freed unless its choice is the best
        # (should a later trial make a freed choice the best again, its final fit starts from scratch).
        for earlier in searched:
            if earlier is not best:
                earlier.warm_start = None
    assert best is not None
    if best.warm_start is not None:
        best.warm_start = factors_only(best.warm_start, any(best.weights.get(c, 0.0) for c in PLAIN_COMPONENTS))
    best.reported = {BLEND_PREFIX + c: v for c, v in best.weights.items()}
    best.reported[HALF_LIFE] = best.config.param(HALF_LIFE)
    best.reported.update(_validation_report(best, split.kind))
    best.reported.update({name: best.config.param(name) for name in SEQUENCE_SHAPES})
    if plan.trials:
        best.reported.update({name: best.config.param(name) for name in plan.tuned_names})
    log.info(
        "blend chosen",
        extra={"weights": best.weights, "objective": plan.objective, "score": best.score, "simple": best.simple_scores},
    )
    return best


def preferred(choices: Sequence[Choice], maximize: bool) -> Choice:
    """The choice among the searches' (one per sequence shape and half-life), by the rule each search
    applies to its own blends: those at least the best plain model on every split first; among them,
    within ``COVERAGE_TOLERANCE`` of the best objective, the best ``preference``. Picking the best
    objective alone here would undo, across searches, the coverage each search traded for. The first
    of equals wins; without a measured objective, or a minimised one, the best objective."""
    scored = [(float(c.score), c) for c in choices if c.score is not None and np.isfinite(c.score)]
    if not scored:
        return choices[0]
    everywhere = [(score, c) for score, c in scored if c.everywhere]
    pool = everywhere or scored
    sign = 1.0 if maximize else -1.0
    best_score, best = max(pool, key=lambda entry: sign * entry[0])  # max keeps the first of equals
    if not maximize or not everywhere:
        return best
    close = [c for score, c in pool if score >= best_score * (1 - COVERAGE_TOLERANCE)]
    return max(close, key=lambda c: preference(float(c.score or 0.0), c.coverage))


def _pinned(fixed: Mapping[str, float], model: Model) -> dict[str, float]:
    """The fixed weights, plus ``impressed`` at 0 when the data has no impressions (its search would find
    an empty part: data of an older schema then trains exactly as before)."""
    if model.impressions is None and "impressed" not in fixed:
        return {**fixed, "impressed": 0.0}
    return dict(fixed)


def impressions_if_clear(search: Search, weights: dict[str, float], score: float) -> tuple[dict[str, float], float]:
    """A blend that reads impressions is kept only if it beats the best blend without them by
    ``impressions.MIN_GAIN`` (relative) on the mean and on every validation split; else that one.

    Impressions that carry no information (random, or a feed the user never looked at) would otherwise
    win on validation noise now and then, and lose on the next data."""
    col = COMPONENTS.index("impressed")
    if not weights.get("impressed") or not search.maximize:
        return weights, score
    without = {k: e for k, e in search.tried.items() if k[col] == 0.0}
    if not without:
        return weights, score
    key = max(without, key=lambda k: without[k][0])
    base_mean, _, base_each = without[key]
    chosen = search.tried[Search.key(weights)]
    gain = impressions.MIN_GAIN
    if chosen[0] >= base_mean * (1 + gain) and all(
        a >= b * (1 + gain) for a, b in zip(chosen[2], base_each, strict=True)
    ):
        return weights, score
    return dict(zip(COMPONENTS, key, strict=True)), base_mean


@dataclass
class _Fitted:
    """One validation model and what the search swaps into its pools: trending variants, sequence shapes."""

    model: Model
    trending: list[np.ndarray]
    shaped: list[Model]

    @classmethod
    def of(
        cls,
        frame: pd.DataFrame,
        items: pd.DataFrame | None,
        config: TrainingConfig,
        defaults: dict[str, float],
        warm: bool,
        half_lives: Sequence[float],
        shapes: Sequence[TrainingConfig],
        backward: float,
    ) -> _Fitted:
        data = prepare(frame, items, config)  # one for the fit, the trending variants and the shapes
        model = fit(frame, items, config, defaults, plain=True, plain_from_taste=warm, data=data)
        trending = [popularity(data, h) for h in half_lives] if len(half_lives) > 1 else [model.trending]
        return cls(model, trending, _shaped_models(model, shapes, data, backward))


@dataclass
class Validation:
    """Per protocol: the rows its validation model is fitted on (one frame when they share a fit) and
    the held-out items of its users."""

    trains: dict[str, pd.DataFrame]
    truths: dict[str, dict[str, set[str]]]
    kind: str  # "time+users", "users", with "-coarse" when the timestamps are coarse

    @property
    def train(self) -> pd.DataFrame:
        """The training rows of the users protocol (GetSolutionMetrics')."""
        return self.trains["users"]


def validation_split(interactions: pd.DataFrame) -> Validation:
    """The splits the blend is chosen on: both protocols when the data allows it.

    ``time``: the rows before a cut-off predict what returning users consume after it (how a deployed
    model is used). ``users``: GetSolutionMetrics' protocol (random users' newest interactions held
    out) on all the rows, as the metrics are computed; the objective is the mean of the two. Each
    protocol has its own validation model, except on large data, where the time split holds out at
    most ``WARM_START_MAX_HELD_OUT`` of the rows: there the users split is carved out of the rows
    before the cut-off and one model serves both (the two fits would differ by under 1% of the rows).
    When the time split is not possible (a coarse timestamp whose last period holds too much of the
    data, or too few returning users), ``users`` alone.
    """
    coarse = "-coarse" if coarse_timestamps(interactions) else ""
    timed = split_in_time(
        interactions,
        VALIDATION_SEED,
        share=TIME_VALIDATION_SHARE,
        max_rows=TIME_VALIDATION_MAX_ROWS,
        max_users=MAX_VALIDATION_USERS,
    )
    held_out = 1 - len(timed.train) / max(len(interactions), 1)
    usable = len(timed.truth) >= MIN_TIME_VALIDATION_USERS and held_out <= MAX_TIME_HOLDOUT_SHARE
    shared = usable and held_out <= WARM_START_MAX_HELD_OUT
    base = timed.train if shared else interactions
    users = split_holdout(base, VALIDATION_SEED, user_fraction=VALIDATION_USER_FRACTION, max_users=MAX_VALIDATION_USERS)
    if not usable:
        truths = {"users": users.truth} if users.truth else {}
        return Validation({"users": users.train}, truths, "users" + coarse)
    if not shared:
        trains = {"time": timed.train, "users": users.train}
        truths = {name: truth for name, truth in (("time", timed.truth), ("users", users.truth)) if truth}
        return Validation(trains, truths, "time+users" + coarse)
    # One fit: a user of both splits misses their newest rows before the cut-off, so is scored on one only.
    later = {u: items for u, items in timed.truth.items() if u not in users.truth}
    truths = {name: truth for name, truth in (("time", later), ("users", users.truth)) if truth}
    return Validation({"time": users.train, "users": users.train}, truths, "time+users" + coarse)


def _validation_report(choice: Choice, split_kind: str) -> dict[str, float | str]:
    """What tunedHPOParams says about the choice: the winning candidate, the best plain model and the
    margin over it on validation (relative; 0 when the plain model itself won)."""
    plain = {n: s for n, s in choice.simple_scores.items() if n in PLAIN_MODELS}
    if not plain or choice.score is None:
        return {"validation_split": split_kind}
    name = max(plain, key=lambda n: plain[n])
    margin = (choice.score - plain[name]) / plain[name] if plain[name] else 0.0
    scores = {f"validation_score_{n}": round(v, 6) for n, v in plain.items()}
    return {
        "validation_split": split_kind,
        "validation_candidate": choice.candidate,
        "validation_best_plain": name,
        "validation_margin": round(margin, 4),
        "validation_score": round(choice.score, 6),
        **scores,
    }


def _sequence_shapes(asked: TrainingConfig, plan: HpoPlan) -> list[dict[str, float]]:
    """The sequence settings to try: every combination of ``SEQUENCE_SHAPES`` the solution left open."""
    shapes: list[dict[str, float]] = [{}]
    for name, values in SEQUENCE_SHAPES.items():
        if name in asked.params or name in plan.ranges:
            continue
        shapes = [{**shape, name: value} for shape in shapes for value in values]
    return shapes


def _shaped_models(
    model: Model, shapes: Sequence[TrainingConfig], data: Prepared | None, backward: float
) -> list[Model]:
    """``model`` under each sequence setting: the same fitted parts, transitions refitted per window."""
    by_window = {model.config.param("sequence_window"): model.transitions}
    out = []
    for shape in shapes:
        window = shape.param("sequence_window")
        if window not in by_window and data is not None and model.transitions is not None:
            by_window[window] = fit_transitions(data, backward, int(window))
        transitions = by_window.get(window, model.transitions)
        users, items = model.user_index, model.item_index
        out.append(replace(model, config=shape, transitions=transitions, _user_index=users, _item_index=items))
    return out


@dataclass
class Pool:
    """Per validation user: each blend part's scores over a candidate pool, which items are truth, seen."""

    parts: np.ndarray  # users x components x pool, float32
    items: np.ndarray  # users x pool: item index of each candidate (-1: padding)
    valid: np.ndarray  # users x pool: a real candidate (not padding)
    truth: np.ndarray  # users x pool: held-out item
    seen: np.ndarray  # users x pool: in the user's training history
    n_items: int
    shapes: np.ndarray | None = None  # sequence settings x users x SHAPED_COMPONENTS x pool

    @classmethod
    def build(
        cls,
        model: Model,
        truth: Mapping[str, set[str]],
        variants: Sequence[np.ndarray] = (),
        shaped: Sequence[Model] = (),
    ) -> Pool:
        """Candidates: each part's top ``POOL_PER_COMPONENT`` items and the user's own items.

        ``variants`` are other versions of a user-independent part (trending with other half-lives)
        whose top items join every pool, so ``set_global`` can swap them in without a rebuild;
        ``shaped`` are ``model`` under other sequence settings, whose sequence-shaped parts
        ``set_shape`` swaps in likewise.
        """
        users = [u for u in sorted(truth) if u in model.user_index]
        shared = [v for v in (*(getattr(model, n) for n in GLOBAL_COMPONENTS), *variants) if v is not None]
        shared_picks = np.unique(np.concatenate([_top(v) for v in shared])) if shared else np.zeros(0, np.int64)
        # without impressions the part is empty: leaving it out keeps the pools (and their ties) as before
        personal = tuple(
            c for c in COMPONENTS if c not in GLOBAL_COMPONENTS and (c != "impressed" or model.impressions is not None)
        )
        width = len(shared_picks) + POOL_PER_COMPONENT * (len(personal) + 1 + len(SHAPED_COMPONENTS) * len(shaped))
        parts = np.zeros((len(users), len(COMPONENTS), width), dtype=np.float32)
        shapes = np.zeros((len(shaped) + 1, len(users), len(SHAPED_COMPONENTS), width), dtype=np.float32)
        pool_items = np.full((len(users), width), -1, dtype=np.int64)
        hits = np.zeros((len(users), width), dtype=bool)
        seen = np.zeros((len(users), width), dtype=bool)
        for row, user in enumerate(users):
            uidx = model.user_index[user]
            history = model.history.of(uidx)[0]
            vecs = model.components(uidx, personal)
            alternatives = [vecs, *(other.components(uidx, SHAPED_COMPONENTS) for other in shaped)]
            tops = [_top(v) for alt in alternatives for v in alt.values()]
            cand = np.unique(np.concatenate([shared_picks, history[-POOL_PER_COMPONENT:], *tops]))
            n = len(cand)
            for col, name in enumerate(COMPONENTS):
                if name in vecs:
                    parts[row, col, :n] = vecs[name][cand]
            for k, alt in enumerate(alternatives):
                for col, name in enumerate(SHAPED_COMPONENTS):
                    if name in alt:
                        shapes[k, row, col, :n] = alt[name][cand]
            pool_items[row, :n] = cand
            wanted = [model.item_index[i] for i in truth[user] if i in model.item_index]
            hits[row, :n] = np.isin(cand, wanted)
            seen[row, :n] = np.isin(cand, history)
        pool = cls(parts, pool_items, pool_items >= 0, hits, seen, model.n_items, shapes)
        for name in GLOBAL_COMPONENTS:
            pool.set_global(name, getattr(model, name))
        return pool

    def set_shape(self, k: int) -> None:
        """Use the sequence-shaped parts of the ``k``-th model given to ``build`` (0: the model itself)."""
        if self.shapes is None:
            return
        for col, name in enumerate(SHAPED_COMPONENTS):
            self.parts[:, COMPONENTS.index(name), :] = self.shapes[k, :, col, :]

    def set_global(self, name: str, vec: np.ndarray | None) -> None:
        """Fill a user-independent part's column (scaled to a maximum magnitude of 1, as the model does)."""
        col = COMPONENTS.index(name)
        if vec is None:
            self.parts[:, col, :] = 0.0
            return
        top = max(float(vec.max(initial=0.0)), -float(vec.min(initial=0.0))) or 1.0
        self.parts[:, col, :] = np.where(self.valid, vec[np.maximum(self.items, 0)] / top, 0.0)

    def metrics(self, weights: np.ndarray, exclude_seen: bool) -> dict[str, float]:
        """GetSolutionMetrics' ranking metrics of the blend with ``weights`` over the pool."""
        if not len(self.parts):
            return {}
        scores = np.einsum("ucp,c->up", self.parts, weights)
        if exclude_seen:
            scores = scores - SEEN_PENALTY * self.seen
        scores = np.where(self.valid, scores, -np.inf)
        k = min(25, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        hit = np.take_along_axis(self.truth, top, axis=1) & np.take_along_axis(self.valid, top, axis=1)
        out: dict[str, float] = {}
        gains = 1.0 / np.log2(np.arange(k) + 2.0)
        for cut in K_VALUES:
            h = hit[:, :cut]
            out[f"precision_at_{cut}"] = float(h.sum(axis=1).mean() / cut)
            dcg = (h * gains[:cut]).sum(axis=1)
            ideal = np.cumsum(gains[:cut])[np.maximum(h.sum(axis=1) - 1, 0)] * (h.sum(axis=1) > 0)
            out[f"normalized_discounted_cumulative_gain_at_{cut}"] = float(
                np.mean(np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0))
            )
        first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1.0, np.inf)
        out["mean_reciprocal_rank_at_25"] = float(np.mean(1.0 / first))
        recommended = np.take_along_axis(self.items, top, axis=1)
        out["coverage"] = len(np.unique(recommended[recommended >= 0])) / max(self.n_items, 1)
        return out


def _top(vec: np.ndarray, k: int = POOL_PER_COMPONENT) -> np.ndarray:
    """Indices of the ``k`` largest entries (any order), among the nonzero ones if fewer than half.

    The session parts are sparse (a few hundred items of a large catalogue): partitioning only
    their nonzero entries is what keeps the pools cheap, and a zero-score pick is an arbitrary one.
    """
    if k >= len(vec):
        return np.arange(len(vec))
    if 2 * np.count_nonzero(vec) >= len(vec):  # dense: counting is cheaper than listing the indices
        return np.argpartition(-vec, k - 1)[:k]
    nonzero = np.flatnonzero(vec)
    if len(nonzero) <= k:
        return nonzero
    return nonzero[np.argpartition(-vec[nonzero], k - 1)[:k]]


def preference(objective: float, coverage: float) -> float:
    """How the final choice ranks blends close to the best: ``objective x coverage ** COVERAGE_WEIGHT``.

    Scale-free: multiplying every objective (or every coverage) by a constant keeps the ranking. The
    former ``objective + COVERAGE_WEIGHT x coverage`` mixed units: where the objective's values were
    small (a time split's NDCG@25 of 0.08 in the mean, a precision objective) coverage outweighed it.
    """
    if not (np.isfinite(objective) and np.isfinite(coverage)):
        return float("-inf")  # a blend whose figures could not be measured is never preferred
    return float(objective * max(coverage, 0.0) ** COVERAGE_WEIGHT)


class Search:
    """Bounded coordinate search over the free blend weights, starting from the simple models."""

    def __init__(
        self,
        pools: Sequence[Pool],
        objective: str,
        maximize: bool,
        grids: Mapping[str, tuple[float, ...]],
        fixed: Mapping[str, float],
    ) -> None:
        self.pools = list(pools)
        self.objective = objective
        self.maximize = maximize
        self.grids = grids
        self.fixed = dict(fixed)
        self.free = [c for c in COMPONENTS if c not in fixed]
        # weights -> (objective: mean over the pools, coverage: mean, the objective on each pool)
        self.tried: dict[tuple[float, ...], tuple[float, float, tuple[float, ...]]] = {}
        self.simple_scores: dict[str, float] = {}
        self.starts: dict[str, tuple[float, ...]] = {}
        self.everywhere = False  # the choice is at least the best plain model on every split

    def better(self, a: float | None, b: float | None) -> bool:
        if a is None or b is None:
            return b is None and a is not None
        return a > b if self.maximize else a < b

    def name_of(self, weights: Mapping[str, float]) -> str:
        """The start (a simple model, or ``defaults``) these weights are, else ``blend``."""
        key = self.key(weights)
        return next((name for name, start in self.starts.items() if start == key), "blend")

    @staticmethod
    def key(weights: Mapping[str, float]) -> tuple[float, ...]:
        """The weights as the key of ``tried``."""
        return tuple(float(weights.get(c, 0.0)) for c in COMPONENTS)

    def score(self, weights: Mapping[str, float]) -> float:
        key = self.key(weights)
        if key not in self.tried:
            vec = np.array(key, dtype=np.float32)
            exclude = weights.get("repeat", 0.0) < 0
            results = [pool.metrics(vec, exclude_seen=exclude) for pool in self.pools]
            each = tuple(r.get(self.objective, 0.0) for r in results)
            coverage = float(np.mean([r.get("coverage", 0.0) for r in results]))
            self.tried[key] = (float(np.mean(each)), coverage, each)
        return self.tried[key][0]

    def _within_ranges(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Weights clipped to the HPO ranges the solution gave for them."""
        out = dict(weights)
        for comp, grid in self.grids.items():
            out[comp] = min(max(out[comp], min(grid)), max(grid))
        return out

    def run(self, defaults: Mapping[str, float]) -> tuple[dict[str, float], float]:
        starts = {"defaults": dict(defaults)}
        for name, simple in SIMPLE_MODELS.items():
            starts[name] = {c: simple.get(c, 0.0) for c in COMPONENTS}
        best: dict[str, float] | None = None
        best_score: float | None = None
        for name, start in starts.items():
            weights = {**self._within_ranges(start), **self.fixed}
            score = self.score(weights)
            self.starts.setdefault(name, self.key(weights))
            if name != "defaults":
                self.simple_scores[name] = score
            if self.better(score, best_score):
                best, best_score = weights, score
        assert best is not None and best_score is not None
        improved = True
        while improved and len(self.tried) < MAX_EVALUATIONS:
            improved = False
            for comp in self.free:
                for value in self.grids.get(comp, GRID[comp]):
                    if len(self.tried) >= MAX_EVALUATIONS:
                        break
                    candidate = {**best, comp: value}
                    score = self.score(candidate)
                    if self.better(score, best_score):
                        best, best_score, improved = candidate, score, True
        return self._widest(best, best_score)

    def _widest(self, best: dict[str, float], best_score: float) -> tuple[dict[str, float], float]:
        """The final choice among the tried candidates no worse than any simple model (on the mean).

        Preferred: those at least as good as the best plain model on every validation split (each
        protocol); among them, within ``COVERAGE_TOLERANCE`` of the best, the best ``preference``
        (objective and coverage traded in relative terms). When no candidate is that good everywhere,
        the one closest to it (the best worst ratio to the best plain model of a split).
        """
        if not self.maximize:
            return best, best_score
        floor = max(self.simple_scores.values())
        admissible = {
            key: entry
            for key, entry in self.tried.items()
            if entry[0] >= floor and all(key[COMPONENTS.index(n)] == v for n, v in self.fixed.items())
        }
        plain = [self.tried[self.starts[n]][2] for n in PLAIN_MODELS if n in self.starts]
        if not admissible or not plain:
            return best, best_score
        per_split = np.max(np.array(plain), axis=0)
        ratios = {key: float(np.min(np.divide(e[2], np.maximum(per_split, 1e-12)))) for key, e in admissible.items()}
        everywhere = {key: e for key, e in admissible.items() if ratios[key] >= 1.0 - 1e-9}
        if not everywhere:
            key = max(admissible, key=lambda k: (ratios[k], admissible[k][0]))
            return dict(zip(COMPONENTS, key, strict=True)), admissible[key][0]
        self.everywhere = True
        top = max(e[0] for e in everywhere.values())
        close = [
            (preference(score, cov), score, key)
            for key, (score, cov, _) in everywhere.items()
            if score >= top * (1 - COVERAGE_TOLERANCE)
        ]
        _, score, key = max(close)
        return dict(zip(COMPONENTS, key, strict=True)), score
