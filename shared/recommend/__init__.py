"""Recommend: every active user's feed in Firestore (docs/recommend.md)."""

from shared.recommend.feeds import FeedDeps, FillSummary, RefreshResult, fill_feeds, first_feed, refresh_user
from shared.recommend.ports import CampaignInfo, Ranked, Recommender, RecommenderError

__all__ = [
    "CampaignInfo",
    "FeedDeps",
    "FillSummary",
    "Ranked",
    "Recommender",
    "RecommenderError",
    "RefreshResult",
    "fill_feeds",
    "first_feed",
    "refresh_user",
]
