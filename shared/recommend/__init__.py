"""Recommend: every active user's feed in Firestore (docs/recommend.md)."""

from shared.recommend.campaign import CampaignInfo
from shared.recommend.deps import FeedDeps, FillSummary
from shared.recommend.feeds import RefreshResult, fill_feeds, first_feed, refresh_user

__all__ = ["CampaignInfo", "FeedDeps", "FillSummary", "RefreshResult", "fill_feeds", "first_feed", "refresh_user"]
