"""performHPO: what a solution's hpoConfig asks for (trials, ranges, objective) and the bounds of settings.

Training (``training.py``) runs the trials this plan describes, each with its own blend search.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from infra.local.personalize.data import BLEND_PREFIX, DEFAULTS, TrainingConfig
from infra.local.personalize.metrics import K_VALUES

# Values a solution may give them: a window of a million steps would never finish, a decay above 1
# would favour the oldest items.
LIMITS: dict[str, tuple[float, float]] = {"sequence_window": (1.0, 50.0), "recent_rank_decay": (0.0, 1.0)}
DEFAULT_OBJECTIVE = "normalized_discounted_cumulative_gain_at_25"
OBJECTIVES = (
    "mean_reciprocal_rank_at_25",
    *(f"normalized_discounted_cumulative_gain_at_{k}" for k in K_VALUES),
    *(f"precision_at_{k}" for k in K_VALUES),
)
DEFAULT_TRAINING_JOBS = 8
# Settings HPO tunes when the solution names no ranges (Personalize tunes its recipe's defaults).
DEFAULT_RANGES: dict[str, tuple[str, list[Any]]] = {
    "hidden_dimension": ("integer", [16, 128]),
    "recency_half_life_days": ("continuous", [3.0, 365.0]),
    "popularity_half_life_days": ("continuous", [1.0, 60.0]),
}
INTEGER_PARAMS = {"hidden_dimension", "als_iterations", "neighbours", "recent_items", "sequence_window", "seed"}


class HpoConfigError(ValueError):
    """An hpoConfig or hyperparameter value the engine cannot honour (the message says why)."""


def check_limits(name: str, *values: float) -> None:
    """HpoConfigError if a bounded hyperparameter (``LIMITS``) is given a value outside its bounds."""
    lo, hi = LIMITS.get(name, (-math.inf, math.inf))
    for value in values:
        if not lo <= float(value) <= hi:
            raise HpoConfigError(f"{name} must be between {lo:g} and {hi:g}, not {float(value):g}.")


@dataclass
class HpoPlan:
    """What ``performHPO`` asks for: trials of settings drawn from ranges, an objective, a budget."""

    objective: str = DEFAULT_OBJECTIVE
    maximize: bool = True
    trials: int = 0
    ranges: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)
    grids: dict[str, tuple[float, ...]] = field(default_factory=dict)
    seed: int = 0

    @property
    def tuned_names(self) -> list[str]:
        return [n for n in self.ranges if not n.startswith(BLEND_PREFIX)]

    @classmethod
    def from_config(cls, config: TrainingConfig) -> HpoPlan:
        plan = cls(seed=int(config.param("seed")))
        if not config.perform_hpo:
            return plan
        hpo = parse_hpo_config(config.hpo_config)
        plan.objective, plan.maximize = hpo["objective"], hpo["maximize"]
        plan.ranges = hpo["ranges"] or dict(DEFAULT_RANGES)
        plan.trials = hpo["trials"]
        for name, (kind, spec) in plan.ranges.items():
            if name.startswith(BLEND_PREFIX):
                plan.grids[name[len(BLEND_PREFIX) :]] = _grid(kind, spec)
        return plan

    def configs(self, config: TrainingConfig) -> list[TrainingConfig]:
        """The settings of each trial: the solution's own first, then random draws from the ranges."""
        names = self.tuned_names
        if not self.trials or not names:
            return [config]
        rng = np.random.default_rng(self.seed)
        out = []
        for trial in range(self.trials):
            params = dict(config.params)
            for name in names:
                kind, spec = self.ranges[name]
                params[name] = (
                    _clip(name, config.param(name), kind, spec) if trial == 0 else _draw(rng, name, kind, spec)
                )
            out.append(replace(config, params=params))
        return out


def _grid(kind: str, spec: list[Any]) -> tuple[float, ...]:
    if kind == "categorical":
        return tuple(float(v) for v in spec)
    lo, hi = float(spec[0]), float(spec[1])
    return tuple(sorted({round(v, 6) for v in np.linspace(lo, hi, 5)}))


def _clip(name: str, value: float, kind: str, spec: list[Any]) -> float:
    if kind == "categorical":
        values = [float(v) for v in spec]
        return value if value in values else values[0]
    return float(min(max(value, float(spec[0])), float(spec[1])))


def _draw(rng: np.random.Generator, name: str, kind: str, spec: list[Any]) -> float:
    if kind == "categorical":
        return float(spec[int(rng.integers(len(spec)))])
    lo, hi = float(spec[0]), float(spec[1])
    if kind == "integer":
        return float(rng.integers(int(lo), int(hi) + 1))
    if lo > 0 and hi / lo >= 10:  # wide positive ranges: draw on a log scale
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def parse_hpo_config(hpo: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``solutionConfig.hpoConfig``; HpoConfigError names the first problem."""
    objective = hpo.get("hpoObjective") or {}
    metric = objective.get("metricName") or DEFAULT_OBJECTIVE
    if metric not in OBJECTIVES:
        raise HpoConfigError(f"hpoObjective.metricName {metric!r} is not one of {list(OBJECTIVES)}.")
    kind = objective.get("type") or "Maximize"
    if kind not in ("Maximize", "Minimize"):
        raise HpoConfigError(f"hpoObjective.type must be Maximize or Minimize, not {kind!r}.")
    resources = hpo.get("hpoResourceConfig") or {}
    trials = _count(resources.get("maxNumberOfTrainingJobs"), DEFAULT_TRAINING_JOBS, "maxNumberOfTrainingJobs", 40)
    _count(resources.get("maxParallelTrainingJobs"), 1, "maxParallelTrainingJobs", 10)
    ranges: dict[str, tuple[str, list[Any]]] = {}
    given = hpo.get("algorithmHyperParameterRanges") or {}
    for key, kind_name in (
        ("integerHyperParameterRanges", "integer"),
        ("continuousHyperParameterRanges", "continuous"),
        ("categoricalHyperParameterRanges", "categorical"),
    ):
        for entry in given.get(key) or []:
            name = entry.get("name")
            if name not in DEFAULTS:
                raise HpoConfigError(f"{key}: unknown hyperparameter {name!r}; tunable: {sorted(DEFAULTS)}.")
            if kind_name == "categorical":
                try:
                    values = [float(v) for v in entry.get("values") or []]
                except ValueError as exc:
                    raise HpoConfigError(f"{name}: categorical values must be numbers here ({exc}).") from exc
                if not values:
                    raise HpoConfigError(f"{name}: categorical range needs values.")
                check_limits(name, *values)
                ranges[name] = (kind_name, values)
                continue
            lo, hi = entry.get("minValue"), entry.get("maxValue")
            if lo is None or hi is None or float(lo) > float(hi):
                raise HpoConfigError(f"{name}: needs minValue <= maxValue.")
            check_limits(name, lo, hi)
            if kind_name == "continuous" and name in INTEGER_PARAMS:
                kind_name = "integer"
            ranges[name] = (kind_name, [lo, hi])
    return {"objective": metric, "maximize": kind == "Maximize", "trials": trials, "ranges": ranges}


def _count(raw: Any, default: int, name: str, limit: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise HpoConfigError(f"{name} must be a whole number, not {raw!r}.") from exc
    if not 1 <= value <= limit:
        raise HpoConfigError(f"{name} must be between 1 and {limit}.")
    return value
