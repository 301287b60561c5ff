"""Runtime API (personalize-runtime): GetRecommendations and GetPersonalizedRanking."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from infra.local.personalize import filters as filter_expr
from infra.local.personalize.attribution import recommendation_id
from infra.local.personalize.autoupdate import AutoUpdates
from infra.local.personalize.data import top_n
from infra.local.personalize.errors import InvalidInputException, ResourceNotFoundException
from infra.local.personalize.recipes import Model
from infra.local.personalize.store import Store

MAX_RESULTS = 500
DEFAULT_RESULTS = 25


@lru_cache(maxsize=256)
def _parsed(expression: str) -> list[filter_expr.Clause]:
    return filter_expr.parse(expression)


class Runtime:
    """Answers runtime requests from the model behind a campaign."""

    def __init__(self, store: Store, updates: AutoUpdates | None = None) -> None:
        self.store = store
        self.updates = updates or AutoUpdates(store)

    def _campaign_model(self, body: dict[str, Any]) -> Model:
        arn = _text(body, "campaignArn")
        if not arn:
            raise InvalidInputException("campaignArn is required (recommenders are not supported).")
        campaign = self.store.resources["campaigns"].get(arn)
        if campaign is None:
            raise ResourceNotFoundException(f"Campaign not found: {arn}")
        if campaign["status"] != "ACTIVE":
            raise InvalidInputException(f"Campaign {arn} is {campaign['status']}, not ACTIVE.")
        # the version as its latest automatic update left it (autoupdate.py), under the same ARN
        return self.updates.model(campaign["solutionVersionArn"], campaign.get("campaignConfig"))

    def _allowed(self, body: dict[str, Any], model: Model, user_id: str | None) -> np.ndarray | None:
        arn = _text(body, "filterArn")
        if not arn:
            return None
        found = self.store.resources["filters"].get(arn)
        if found is None:
            raise ResourceNotFoundException(f"Filter not found: {arn}")
        values = filter_expr.parse_filter_values(_mapping(body, "filterValues"))
        return filter_expr.allowed_items(_parsed(found["filterExpression"]), model, user_id, values)

    def get_recommendations(self, body: dict[str, Any]) -> dict[str, Any]:
        num = body.get("numResults", DEFAULT_RESULTS)
        if not isinstance(num, int) or not 1 <= num <= MAX_RESULTS:
            raise InvalidInputException(f"numResults must be between 1 and {MAX_RESULTS}.")
        model = self._campaign_model(body)
        user_id, item_id = _text(body, "userId"), _text(body, "itemId")
        spec = model.spec
        if spec.answers == "RANKING":
            raise InvalidInputException("A personalized-ranking campaign answers GetPersonalizedRanking only.")
        if spec.answers == "ITEM":
            if not item_id:
                raise InvalidInputException("itemId is required for this campaign.")
            scores = model.score_item(item_id)
            if scores is None:
                scores = model.popularity.copy()
        else:
            if spec.needs_user and not user_id:
                raise InvalidInputException("userId is required for this campaign.")
            scores = model.score_user(user_id)
        best = top_n(scores, num, self._allowed(body, model, user_id))
        return {"itemList": _items(model, scores, best), "recommendationId": recommendation_id(body["campaignArn"])}

    def get_personalized_ranking(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("inputList")
        user_id = _text(body, "userId")
        if not user_id or not isinstance(inputs, list) or not 1 <= len(inputs) <= MAX_RESULTS:
            raise InvalidInputException(f"userId and an inputList of 1-{MAX_RESULTS} item IDs are required.")
        model = self._campaign_model(body)
        scores = model.score_user(user_id)
        allowed = self._allowed(body, model, user_id)
        known = [(item, model.item_index.get(item)) for item in dict.fromkeys(inputs)]
        ranked = [(item, float(scores[i])) for item, i in known if i is not None and (allowed is None or allowed[i])]
        ranked.sort(key=lambda pair: -pair[1])
        unknown = [(item, 0.0) for item, i in known if i is None]
        total = sum(max(s, 0.0) for _, s in ranked) or 1.0
        out = [{"itemId": item, "score": round(max(s, 0.0) / total, 7)} for item, s in ranked + unknown]
        return {"personalizedRanking": out, "recommendationId": recommendation_id(body["campaignArn"])}


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInputException(f"{key} must be a string.")
    return value


def _mapping(body: dict[str, Any], key: str) -> dict[str, str]:
    value = body.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInputException(f"{key} must be a map of strings.")
    return value


def _items(model: Model, scores: np.ndarray, best: np.ndarray) -> list[dict[str, Any]]:
    """Item list with scores normalised to sum to 1 over all candidates, as Personalize reports them."""
    total = float(np.maximum(scores, 0.0, where=np.isfinite(scores), out=np.zeros_like(scores)).sum()) or 1.0
    ids = model.item_ids[best].tolist()
    values = np.round(np.maximum(scores[best], 0.0) / total, 7).tolist()
    return [{"itemId": str(i), "score": v} for i, v in zip(ids, values, strict=True)]
