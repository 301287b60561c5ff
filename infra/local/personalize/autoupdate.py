"""Automatic updates: new items join the latest user-personalization version every two hours.

What Personalize documents (update-campaigns, native-recipe-new-item-USER_PERSONALIZATION "Automatic
updates", CreateSolutionVersion ``trainingMode``): with User-Personalization and User-Personalization-v2 it
updates the **latest** solution version every two hours so that recommendations consider new items (with
exploration); the campaign uses the updated version by itself, under the same solution version ARN. The
update is not a retraining. A version created with ``trainingMode=UPDATE`` stops the automatic updates.
Other recipes (SIMS, popularity-count, trending-now, personalized-ranking) are never updated: they wait for
the next training.

Here, for a recipe with ``auto_updates`` (recipes.py), the latest ACTIVE version of its solution, trained
FULL, is updated at ``trained + k x 2 h`` on the engine's clock (once a newer version is ACTIVE, an older
one keeps its last update and takes no more) (clock.py: the simulation's virtual time
when it runs one). An update takes the items the model does not know from the Items dataset and from the
imported interactions, as the datasets are at that moment (before an import changes them, the due update
is taken first, so an update never sees data imported after its time), and scores each new item for a user
from what the engine knows without retraining, in the blend's own units (recipes.Model.blend):

* its categorical metadata (the Items schema's ``categorical`` fields) against the user's history (their
  trained history plus their imported interactions since), cosine, weighted as the blend's personal parts;
* its popularity among the imported interactions, decayed like ``trending`` and scaled against every
  item's, weighted as the blend's popularity parts; its freshness, weighted as the blend's freshness;
* exploration: the campaign's ``itemExplorationConfig.explorationWeight`` (default 0.3) times 1 / (1 + its
  interactions), for items no older than ``explorationItemAgeCutOff`` days (default 30) before the newest
  interaction (age from CREATION_TIMESTAMP, else the item's first interaction).

A new item the user already interacted with sinks as seen items do in the blend; the filters see new items'
metadata and the user's interactions with new items. The trained part of every score is unchanged. The
update lives in memory (recomputed from the datasets after an engine restart); batch inference uses the
trained model, as Personalize's batch jobs do.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from infra.local.personalize.clock import EngineClock
from infra.local.personalize.data import DAY, DEFAULT_RECIPE, RECIPE_PREFIX, History, recipe_name, select_events
from infra.local.personalize.recipes import RECIPES, SEEN_PENALTY, Model
from infra.local.personalize.store import Store

UPDATE_EVERY = 2 * 3600.0
EXPLORATION_WEIGHT = 0.3
EXPLORATION_AGE_CUTOFF_DAYS = 30.0
PERSONAL_PARTS = ("taste", "neighbours", "sequence", "plain_taste", "knn")
POPULAR_PARTS = ("trending", "popularity")
UPDATED_MODES = ("FULL", "AUTOTRAIN")
DENSE_TOKENS = 4_000_000  # new items x metadata tokens kept as an array up to this size (32 MB)


@dataclass(frozen=True)
class Exploration:
    """A campaign's ``itemExplorationConfig``, parsed."""

    weight: float = EXPLORATION_WEIGHT
    age_cutoff_days: float = EXPLORATION_AGE_CUTOFF_DAYS


def exploration(campaign_config: dict[str, Any] | None) -> Exploration:
    """The campaign's exploration settings; a missing or unusable value takes Personalize's default."""
    raw = (campaign_config or {}).get("itemExplorationConfig") or {}
    weight = _number(raw.get("explorationWeight"))
    cutoff = _number(raw.get("explorationItemAgeCutOff"))
    return Exploration(
        weight if weight is not None and 0.0 <= weight <= 1.0 else EXPLORATION_WEIGHT,
        cutoff if cutoff is not None and cutoff > 0.0 else EXPLORATION_AGE_CUTOFF_DAYS,
    )


def check_exploration(campaign_config: dict[str, Any] | None) -> str | None:
    """Why the campaign's itemExplorationConfig is invalid (None when it is valid or absent)."""
    raw = (campaign_config or {}).get("itemExplorationConfig")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return "itemExplorationConfig must be a map of strings."
    for key, value in raw.items():
        number = _number(value)
        if key == "explorationWeight" and (number is None or not 0.0 <= number <= 1.0):
            return f"explorationWeight must be a number between 0 and 1, not {value!r}."
        if key == "explorationItemAgeCutOff" and (number is None or number <= 0.0):
            return f"explorationItemAgeCutOff must be a positive number of days, not {value!r}."
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def exploration_bonus(interactions: np.ndarray, age_days: np.ndarray, explore: Exploration) -> np.ndarray:
    """``explorationWeight`` x 1 / (1 + interactions) for items no older than ``explorationItemAgeCutOff``
    days (``inf``: age unknown, never explored), 0 for the others and for a count that is not a finite,
    non-negative number (a bonus must never be NaN or unbounded: it is added to every score)."""
    counts = np.asarray(interactions, dtype=np.float64)
    usable = np.isfinite(counts) & (counts >= 0)
    eligible = (age_days <= explore.age_cutoff_days) & usable
    return explore.weight * np.where(eligible, 1.0 / (1.0 + np.where(usable, counts, 0.0)), 0.0)


def explored(
    model: Model, explore: Exploration, interactions: np.ndarray | None = None, newest: float | None = None
) -> Model:
    """``model`` as a campaign or a batch job serves it: its cold items (no interaction in its training data)
    explored by ``explore``. ``interactions`` (per trained item, imported since training) and ``newest`` (the
    newest interaction) are an automatic update's; without them the version is as trained. A recipe without
    exploration, a version without the counts (trained by an older engine) or nothing to explore: ``model``."""
    if not model.spec.auto_updates or model.item_interactions is None or model.item_created is None:
        return model
    cold = model.item_interactions <= 0
    if explore.weight <= 0 or not cold.any():
        return model
    now = model.reference_time if newest is None else newest
    created = model.item_created
    age_days = np.where(np.isfinite(created), np.maximum(now - created, 0.0) / DAY, np.inf)
    since = np.zeros(model.n_items) if interactions is None else interactions
    bonus = np.where(cold, exploration_bonus(since, age_days, explore), 0.0).astype(np.float32)
    return replace(model, exploration_bonus=bonus, item_masks={}) if bonus.any() else model


@dataclass
class ColdItems:
    """What an update knows of the items it adds (``n`` of them, after the trained model's items)."""

    tokens: sp.csc_matrix  # new items x metadata tokens, rows L2-normalised
    profiles: sp.csr_matrix  # users (the updated model's index) x tokens, rows L2-normalised
    seen: sp.csr_matrix  # users x new items the user interacted with since training
    popularity: np.ndarray  # decayed imported interactions, scaled against every item's
    freshness: np.ndarray
    interactions: np.ndarray  # weighted interactions of each new item
    age_days: np.ndarray  # before the newest interaction (inf when unknown)
    updated_at: float
    trained_interactions: np.ndarray  # weighted interactions of each trained item among the imported ones
    newest: float  # the newest imported interaction
    dense_tokens: np.ndarray | None = None  # ``tokens`` as an array when it is small (DENSE_TOKENS)
    _shared: dict[Exploration, tuple[float, np.ndarray]] = field(default_factory=dict, repr=False)

    def scores(self, uidx: int | None, weights: dict[str, float], explore: Exploration) -> np.ndarray:
        """Each new item's score for user ``uidx`` (None: unknown) under the trained blend's ``weights``
        (always the same model's: the user-independent part is kept per exploration setting)."""
        cached = self._shared.get(explore)
        if cached is None:
            personal = sum(max(weights.get(c, 0.0), 0.0) for c in PERSONAL_PARTS)
            popular = sum(max(weights.get(c, 0.0), 0.0) for c in POPULAR_PARTS)
            shared = popular * self.popularity + max(weights.get("freshness", 0.0), 0.0) * self.freshness
            shared = shared + exploration_bonus(self.interactions, self.age_days, explore)
            cached = self._shared[explore] = (personal, shared)
        personal, scores = cached[0], cached[1].copy()
        if uidx is not None and uidx < self.profiles.shape[0]:
            # the profile's row and the seen row read from the CSR arrays directly: a scipy row slice costs
            # more than the arithmetic on the request path
            lo, hi = self.profiles.indptr[uidx], self.profiles.indptr[uidx + 1]
            if hi > lo:
                columns, values = self.profiles.indices[lo:hi], self.profiles.data[lo:hi]
                tokens = self.dense_tokens if self.dense_tokens is not None else self.tokens
                scores = scores + personal * np.asarray(tokens[:, columns] @ values).ravel()
            if weights.get("repeat", 0.0) < 0:
                scores[self.seen.indices[self.seen.indptr[uidx] : self.seen.indptr[uidx + 1]]] -= SEEN_PENALTY
        return scores.astype(np.float32)


@dataclass
class UpdatedModel(Model):
    """A trained model plus the items its latest automatic update brought: the trained items keep their
    scores; the new ones (after them, in ID order) are scored by ``ColdItems``."""

    base: Model | None = None
    cold: ColdItems | None = None
    exploration: Exploration = field(default_factory=Exploration)

    def score_user(self, user_id: str | None) -> np.ndarray:
        assert self.base is not None and self.cold is not None
        trained = self.base.score_user(user_id if user_id in self.base.user_index else None)
        uidx = self.user_index.get(user_id) if user_id is not None else None
        return np.concatenate([trained, self.cold.scores(uidx, self.base.weights, self.exploration)])


class AutoUpdates:
    """The models campaigns serve: a version's latest automatic update when one is due, else the version."""

    def __init__(self, store: Store, clock: EngineClock | None = None) -> None:
        self.store = store
        self.clock = clock or EngineClock(store.root)
        self._lock = threading.Lock()
        # version ARN -> (slot, update); None: that update found no new item (the version serves as trained)
        self._updates: dict[str, tuple[int, UpdatedModel | None]] = {}
        # (version ARN, update slot or None: as trained, exploration) -> what a campaign serves
        self._views: dict[tuple[str, int | None, Exploration], Model] = {}

    def model(self, version_arn: str, campaign_config: dict[str, Any] | None = None) -> Model:
        """What a campaign serving ``version_arn`` answers from now."""
        base = self.store.model(version_arn)
        slot = self.due_slot(version_arn)
        found = self._update(version_arn, base, slot) if slot is not None else None
        explore = exploration(campaign_config)
        key = (version_arn, slot if found is not None else None, explore)
        with self._lock:
            cached = self._views.get(key)
        if cached is not None:
            return cached
        view: Model
        if found is None or found.cold is None:
            view = explored(base, explore)
        else:
            cold = found.cold
            trained = explored(base, explore, cold.trained_interactions, cold.newest)
            view = replace(found, base=trained, exploration=explore, item_masks={})
        with self._lock:
            if len(self._views) > 32:
                self._views.clear()
            self._views[key] = view
        return view

    def catch_up(self, dataset_group_arn: str) -> None:
        """Take every due update of the group's versions now: called before an import changes a dataset,
        so that an update never sees data imported after its time."""
        for version in self.store.find("solutionVersions", datasetGroupArn=dataset_group_arn):
            arn = version["solutionVersionArn"]
            slot = self.due_slot(arn)
            if slot is None:
                continue
            try:
                base = self.store.model(arn)
            except Exception:  # a version without a readable model has nothing to update
                continue
            self._update(arn, base, slot)

    def due_slot(self, version_arn: str) -> int | None:
        """How many two-hour periods since the version trained, if it takes automatic updates (else None)."""
        version = self.store.resources["solutionVersions"].get(version_arn)
        if version is None or version.get("status") != "ACTIVE":
            return None
        spec = RECIPES.get(recipe_name(str(version.get("recipeArn") or RECIPE_PREFIX + DEFAULT_RECIPE)))
        if spec is None or not spec.auto_updates:
            return None
        trained = version.get("_trainedAt")
        if not isinstance(trained, int | float) or version.get("trainingMode", "FULL") not in UPDATED_MODES:
            return None
        until = self.clock.now()
        superseded = self._superseded_at(version)
        if superseded is not None:  # no longer the latest: it keeps the updates it took until then, no more
            until = min(until, superseded)
        slot = math.floor((until - float(trained)) / UPDATE_EVERY)
        return slot if slot >= 1 else None

    def _superseded_at(self, version: dict[str, Any]) -> float | None:
        """When a newer version of the same solution became ACTIVE (the latest since), if one did."""
        order = (version["creationDateTime"], version["solutionVersionArn"])
        newer = [
            float(v["_trainedAt"])
            for v in self.store.find("solutionVersions", solutionArn=version["solutionArn"])
            if v.get("status") == "ACTIVE"
            and (v["creationDateTime"], v["solutionVersionArn"]) > order
            and isinstance(v.get("_trainedAt"), int | float)
        ]
        return min(newer) if newer else None

    def _update(self, version_arn: str, base: Model, slot: int) -> UpdatedModel | None:
        with self._lock:
            found = self._updates.get(version_arn)
            if found is not None and found[0] >= slot:
                return found[1]
            version = self.store.get("solutionVersions", version_arn)
            at = float(version["_trainedAt"]) + slot * UPDATE_EVERY
            updated = build_update(self.store, version["datasetGroupArn"], base, at)
            self._updates[version_arn] = (slot, updated)
            return updated


def build_update(store: Store, dataset_group_arn: str, base: Model, at: float) -> UpdatedModel | None:
    """The update of ``base`` with the datasets as they are now; None when no new item is found."""
    frames: dict[str, pd.DataFrame | None] = {}
    schemas: dict[str, str] = {}
    for dataset in store.find("datasets", datasetGroupArn=dataset_group_arn):
        frames[dataset["datasetType"]] = store.frame(dataset["datasetArn"])
        schemas[dataset["datasetType"]] = store.get("schemas", dataset["schemaArn"])["schema"]
    interactions, items = frames.get("Interactions"), frames.get("Items")
    if interactions is None or not len(interactions):
        return None
    rows = select_events(interactions, base.config)
    rows = rows.assign(USER_ID=rows["USER_ID"].astype(str), ITEM_ID=rows["ITEM_ID"].astype(str))
    known = base.item_index
    new_ids = set(rows.loc[~rows["ITEM_ID"].isin(known), "ITEM_ID"])
    if items is not None and len(items):
        catalogue = items.assign(ITEM_ID=items["ITEM_ID"].astype(str)).drop_duplicates("ITEM_ID", keep="last")
        new_ids |= set(catalogue.loc[~catalogue["ITEM_ID"].isin(known), "ITEM_ID"])
    else:
        catalogue = None
    if not new_ids:
        return None
    new = np.array(sorted(new_ids), dtype=object)
    item_ids = np.concatenate([base.item_ids, new])
    index = {item: k for k, item in enumerate(item_ids)}
    meta = _metadata(base, catalogue, new, item_ids)
    newest = float(rows["TIMESTAMP"].max())
    ts = rows["TIMESTAMP"].to_numpy(dtype=np.float64)
    codes = rows["ITEM_ID"].map(index).to_numpy(dtype=np.int64)
    weights = rows["_w"].to_numpy(dtype=np.float64)
    p = base.config.param
    decayed = np.bincount(codes, weights * 0.5 ** ((newest - ts) / DAY / p("popularity_half_life_days")), len(item_ids))
    popularity = decayed[len(base.item_ids) :] / max(float(decayed.max(initial=0.0)), 1e-12)
    every_count = np.bincount(codes, weights, len(item_ids))
    counts = every_count[len(base.item_ids) :]
    created = _created(meta, new, codes - len(base.item_ids), ts)
    age_days = np.where(np.isfinite(created), np.maximum(newest - created, 0.0) / DAY, np.inf)
    freshness = np.where(np.isfinite(age_days), 0.5 ** (age_days / p("freshness_half_life_days")), 0.0)

    # users: the trained model's, then those first seen since (in ID order)
    since = rows[(rows["TIMESTAMP"] > base.reference_time) | (codes >= len(base.item_ids))]
    extra_users = sorted(set(since["USER_ID"]) - set(base.user_index))
    user_ids = np.concatenate([base.user_ids, np.array(extra_users, dtype=object)])
    users = {u: k for k, u in enumerate(user_ids)}
    since_users = since["USER_ID"].map(users).to_numpy(dtype=np.int64)
    since_items = since["ITEM_ID"].map(index).to_numpy(dtype=np.int64)
    tokens = _tokens(meta, _categorical(schemas.get("Items")), len(item_ids))
    history = base.history
    trained_users = np.repeat(np.arange(len(base.user_ids)), np.diff(history.indptr))
    shape = (len(user_ids), len(item_ids))
    read = sp.csr_matrix(
        (
            np.ones(len(trained_users) + len(since_users)),
            (np.concatenate([trained_users, since_users]), np.concatenate([history.items, since_items])),
        ),
        shape=shape,
    )
    profiles = _l2_rows(read @ tokens)
    on_new = since_items >= len(base.item_ids)
    seen = sp.csr_matrix(
        (np.ones(int(on_new.sum())), (since_users[on_new], since_items[on_new] - len(base.item_ids))),
        shape=(len(user_ids), len(new)),
    )
    seen.sum_duplicates()
    new_tokens = _l2_rows(tokens[len(base.item_ids) :])
    cold = ColdItems(
        tokens=new_tokens.tocsc(),
        dense_tokens=new_tokens.toarray() if new_tokens.shape[0] * new_tokens.shape[1] <= DENSE_TOKENS else None,
        profiles=profiles,
        seen=seen,
        popularity=popularity,
        freshness=freshness,
        interactions=counts,
        age_days=age_days,
        updated_at=at,
        trained_interactions=every_count[: len(base.item_ids)],
        newest=newest,
    )
    extended_history, event_types = _history(
        base, since[on_new], since_users[on_new], since_items[on_new], len(user_ids)
    )
    return UpdatedModel(
        recipe=base.recipe,
        config=base.config,
        user_ids=user_ids,
        item_ids=item_ids,
        history=extended_history,
        event_types=event_types,
        item_meta=meta,
        popularity=np.concatenate([base.popularity, popularity.astype(np.float32)]),
        trending=np.concatenate([base.trending, popularity.astype(np.float32)]),
        freshness=None if base.freshness is None else np.concatenate([base.freshness, freshness.astype(np.float32)]),
        weights=dict(base.weights),
        tuned_params=dict(base.tuned_params),
        reference_time=base.reference_time,
        base=base,
        cold=cold,
    )


def _metadata(
    base: Model, catalogue: pd.DataFrame | None, new: np.ndarray, item_ids: np.ndarray
) -> pd.DataFrame | None:
    """Item metadata over the updated item list: the trained rows, then the new items' (from the Items dataset)."""
    if catalogue is None:
        return None if base.item_meta is None else base.item_meta.reindex(pd.Index(item_ids))
    rows = catalogue.set_index("ITEM_ID")
    if base.item_meta is None:
        return rows.reindex(pd.Index(item_ids))
    return pd.concat([base.item_meta, rows.reindex(index=pd.Index(new), columns=base.item_meta.columns)])


def _created(meta: pd.DataFrame | None, new: np.ndarray, new_codes: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Each new item's creation time: CREATION_TIMESTAMP, else its first imported interaction (nan if neither)."""
    created = np.full(len(new), np.nan)
    if meta is not None and "CREATION_TIMESTAMP" in meta.columns:
        created = pd.to_numeric(meta["CREATION_TIMESTAMP"].iloc[-len(new) :], errors="coerce").to_numpy(dtype=float)
    first = np.full(len(new), np.inf)
    mine = new_codes >= 0
    np.minimum.at(first, new_codes[mine], ts[mine])
    return np.where(np.isnan(created), np.where(np.isfinite(first), first, np.nan), created)


def _categorical(schema_text: str | None) -> list[str]:
    if not schema_text:
        return []
    try:
        fields = json.loads(schema_text).get("fields", [])
    except (ValueError, AttributeError):
        return []
    return [f["name"] for f in fields if isinstance(f, dict) and f.get("categorical") is True]


def _tokens(meta: pd.DataFrame | None, columns: list[str], n_items: int) -> sp.csr_matrix:
    """Items x ``column=value`` tokens (multi-valued cells split on ``|``), ones."""
    rows: list[int] = []
    names: list[str] = []
    if meta is not None:
        for column in (c for c in columns if c in meta.columns):
            for k, cell in enumerate(meta[column].tolist()):
                if cell is None or (isinstance(cell, float) and math.isnan(cell)):
                    continue
                for part in str(cell).split("|"):
                    if part.strip():
                        rows.append(k)
                        names.append(f"{column}={part.strip().lower()}")
    vocabulary = {name: k for k, name in enumerate(sorted(set(names)))}
    cols = [vocabulary[name] for name in names]
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_items, max(len(vocabulary), 1)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _l2_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def _history(
    base: Model, since: pd.DataFrame, users: np.ndarray, items: np.ndarray, n_users: int
) -> tuple[History, list[str]]:
    """The trained history plus each user's interactions with new items (what interaction filters read)."""
    event_types = list(base.event_types)
    names = since["EVENT_TYPE"].astype(str).tolist() if "EVENT_TYPE" in since else [""] * len(since)
    for name in names:
        if name not in event_types:
            event_types.append(name)
    code = {name: k for k, name in enumerate(event_types)}
    events = np.array([code[n] for n in names], dtype=np.int16)
    old = base.history
    old_users = np.repeat(np.arange(len(base.user_ids)), np.diff(old.indptr))
    all_users = np.concatenate([old_users, users])
    all_ts = np.concatenate([old.ts, since["TIMESTAMP"].to_numpy(dtype=np.int64)])
    order = np.lexsort((all_ts, all_users))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(all_users, minlength=n_users))]).astype(np.int64)
    return (
        History(
            indptr,
            np.concatenate([old.items, items])[order],
            all_ts[order],
            np.concatenate([old.events, events])[order],
        ),
        event_types,
    )
