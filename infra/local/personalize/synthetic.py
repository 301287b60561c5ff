"""Seeded interaction streams with a known structure, for the engine's tests and quality benchmark.

* ``catalogue``: items live for years, nobody consumes an item twice, taste clusters decide; items
  are released over time, series are consumed in order, users consume in bursts and their taste
  drifts (MovieLens-like). Right answer: collaborative taste of unseen items, read through the
  user's latest items.
* ``news``: short-lived items published every day, readers follow what is fresh and re-open what they
  read in the last days. Right answer: recent popularity, freshness and re-reading.
* ``sequence``: what a user consumes next depends on the last item (an item's successors), items
  are not consumed twice. Right answer: item-to-item transitions from the last items.
* ``traffic``: the demo's realistic news traffic from ``infra.local.traffic`` (no single planted
  structure: popularity, recency, topics and sessions together).

Two more domains, held out from tuning (the engine was not tuned on them; docs/BENCHMARKS.md):

* ``music``: listening logs exported by the month (every timestamp is the first of a month), heavy
  repeat listening of favourite tracks, discovery through favourite artists and genres.
* ``shop``: an e-commerce event log (view, cart, purchase) in sessions about one category, with
  repeat purchases of consumables and short-lived promotions.

Each returns ``(interactions, items)`` as Personalize datasets (USER_ID, ITEM_ID, TIMESTAMP,
EVENT_TYPE; ITEM_ID, CREATION_TIMESTAMP, CATEGORY).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

DAY = 86_400
START = 1_600_000_000
Generated = tuple[pd.DataFrame, pd.DataFrame]


def _frames(rows: list[tuple[str, str, int]], created: np.ndarray, clusters: np.ndarray) -> Generated:
    interactions = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"])
    interactions["EVENT_TYPE"] = "read"
    items = pd.DataFrame(
        {
            "ITEM_ID": [f"i{k}" for k in range(len(created))],
            "CREATION_TIMESTAMP": created.astype(np.int64),
            "CATEGORY": [f"c{c}" for c in clusters],
        }
    )
    return interactions, items


def catalogue(n_users: int = 2000, n_items: int = 1000, n_clusters: int = 10, seed: int = 0) -> Generated:
    """A long-lived catalogue where taste clusters decide, with the time structure of real ones.

    Every item at most once per user; what a user picks is decided by taste first. Around that, the
    structure real catalogues such as MovieLens show, which a model of "taste only" cannot see:

    * items are released over the years (a back catalogue, then releases all through the data's span)
      and draw most interest in the months after release;
    * a cluster is made of series (sequels, a director's films, seasons of a show) released in order,
      and a user who has just consumed an entry often goes on with the next one they have not seen;
    * users consume in bursts: sessions of a few items minutes apart, days or weeks between sessions,
      each session about one of the user's tastes (a "mood"), so the last items say what comes next;
    * taste drifts: now and then one of a user's tastes gives way to another, so recent sessions say
      more than old ones.

    Right answer: collaborative taste of unseen items, read through the user's latest items
    (transitions of the last few items, recent sessions) rather than the whole history alike.
    """
    rng = np.random.default_rng(seed)
    span = 3 * 365 * DAY
    series_length = 4
    clusters = rng.integers(n_clusters, size=n_items)
    appeal = rng.pareto(1.2, size=n_items) + 0.1  # some items are popular everywhere
    # A third of the catalogue is older than the data; the rest is released while it runs.
    created = np.where(
        rng.random(n_items) < 1 / 3,
        START - rng.integers(0, 10 * 365, size=n_items) * DAY,
        START + rng.integers(0, span, size=n_items),
    )
    # Series: within a cluster, consecutive releases in groups of ``series_length``, in release order.
    successor = np.full(n_items, -1)
    for c in range(n_clusters):
        members = np.flatnonzero(clusters == c)
        members = members[np.argsort(created[members], kind="stable")]
        for k in range(len(members) - 1):
            if (k + 1) % series_length:
                successor[members[k]] = members[k + 1]
    rows: list[tuple[str, str, int]] = []
    for u in range(n_users):
        tastes = list(rng.choice(n_clusters, size=2, replace=False))
        t = START + int(rng.integers(0, span - 120 * DAY))
        seen = np.zeros(n_items, dtype=bool)
        budget = int(rng.integers(15, 60))
        while budget > 0:
            if rng.random() < 0.15:  # taste drift: one taste gives way to a new one
                tastes[int(rng.integers(2))] = int(rng.integers(n_clusters))
            mood = tastes[0] if rng.random() < 0.6 else tastes[1]
            age = (t - created) / DAY
            weight = np.where(age >= 0, appeal * (0.1 + 0.5 ** (np.maximum(age, 0) / 90)), 0.0)
            weight *= np.where(clusters == mood, 20.0, 0.3)
            last = -1
            for _ in range(min(budget, int(rng.integers(2, 9)))):
                nxt = successor[last] if last >= 0 else -1
                if nxt >= 0 and not seen[nxt] and created[nxt] <= t and rng.random() < 0.5:
                    item = int(nxt)  # the next entry of the series just consumed
                else:
                    w = np.where(seen, 0.0, weight)
                    if not w.any():
                        break
                    item = int(rng.choice(n_items, p=w / w.sum()))
                seen[item] = True
                rows.append((f"u{u}", f"i{item}", t))
                last = item
                budget -= 1
                t += int(rng.integers(60, 3 * 3600))
            budget -= 1 if last < 0 else 0
            t += int(rng.exponential(10 * DAY))
    return _frames(rows, created, clusters)


def news(n_users: int = 2000, days: int = 60, per_day: int = 40, seed: int = 0) -> Generated:
    """Stories live for about two days; readers read what is fresh and popular, and re-read a lot."""
    rng = np.random.default_rng(seed)
    n_items = days * per_day
    created = START + np.repeat(np.arange(days), per_day) * DAY + rng.integers(0, DAY, size=n_items)
    clusters = rng.integers(5, size=n_items)
    appeal = rng.pareto(1.5, size=n_items) + 0.05
    rows: list[tuple[str, str, int]] = []
    for u in range(n_users):
        taste = int(rng.integers(5))
        t = START + int(rng.integers(0, days * DAY // 2))
        read: list[tuple[int, int]] = []
        for _ in range(int(rng.integers(15, 50))):
            t += int(rng.exponential(DAY / 3))
            if t >= START + days * DAY:
                break
            recent = [item for item, when in read if t - when < 3 * DAY]
            if recent and rng.random() < 0.45:  # re-open a story read in the last days
                item = int(recent[int(rng.integers(len(recent)))])
            else:
                age = (t - created) / DAY
                live = (age >= 0) & (age < 2.5)
                if not live.any():
                    continue
                weight = np.where(live, appeal * 0.5 ** np.maximum(age, 0) * np.where(clusters == taste, 3.0, 1.0), 0)
                item = int(rng.choice(n_items, p=weight / weight.sum()))
            read.append((item, t))
            rows.append((f"u{u}", f"i{item}", t))
    return _frames(rows, created, clusters)


def sequence(n_users: int = 2000, n_items: int = 800, seed: int = 0) -> Generated:
    """Each item has two likely successors; a user mostly moves to one of them (no repeats)."""
    rng = np.random.default_rng(seed)
    successors = rng.integers(n_items, size=(n_items, 2))
    appeal = rng.pareto(1.2, size=n_items) + 0.1
    start_p = appeal / appeal.sum()
    created = START - rng.integers(30, 2 * 365, size=n_items) * DAY
    rows: list[tuple[str, str, int]] = []
    for u in range(n_users):
        t = START + int(rng.integers(0, 200 * DAY))
        item = int(rng.choice(n_items, p=start_p))
        seen = {item}
        rows.append((f"u{u}", f"i{item}", t))
        for _ in range(int(rng.integers(15, 50))):
            nxt = int(successors[item, 0 if rng.random() < 0.6 else 1])
            if rng.random() < 0.2 or nxt in seen:
                nxt = int(rng.choice(n_items, p=start_p))
            if nxt in seen:
                continue
            item = nxt
            seen.add(item)
            t += int(rng.integers(60, 6 * 3600))
            rows.append((f"u{u}", f"i{item}", t))
    return _frames(rows, created, np.zeros(n_items, dtype=int))


def traffic(n_users: int = 2000, seed: int = 0) -> Generated:
    """The demo's generated news traffic (``infra.local.traffic``): power-law appeal with recency decay,
    topic interests, sessions and Deskdrop's event mix; about 25 events a user over 30 days."""
    from infra.local import traffic as news_traffic

    config = news_traffic.TrafficConfig(seed=seed, users=n_users, stories=n_users, interactions=25 * n_users)
    catalogue = news_traffic.build_catalogue(config)
    chunks = news_traffic.interaction_chunks(config, catalogue)
    interactions = pd.concat([news_traffic.interactions_frame(c, catalogue) for c in chunks], ignore_index=True)
    items = news_traffic.items_frame(config, catalogue)
    return (
        interactions[["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]],
        items[["ITEM_ID", "CREATION_TIMESTAMP", "CATEGORY"]],
    )


MONTH = 30 * DAY


def music(n_users: int = 1900, n_artists: int = 1200, per_artist: int = 10, seed: int = 0) -> Generated:
    """Listening logs with month-granular timestamps: favourite tracks replayed, artists and genres explored.

    Each user has one or two genres and a handful of favourite artists; a listen is, in order of
    likelihood, a replay of one of the user's favourite tracks, a track of a favourite artist, a
    track of a favourite genre (popular ones first), or a chart hit. Now and then a newly found artist
    becomes a favourite. Timestamps are truncated to the month (as in exported listening histories),
    so many of a user's events share one timestamp and their order within the month is unknown.
    """
    rng = np.random.default_rng(seed)
    n_genres = 15
    n_items = n_artists * per_artist
    artist_genre = rng.integers(n_genres, size=n_artists)
    item_artist = np.repeat(np.arange(n_artists), per_artist)
    clusters = artist_genre[item_artist]
    appeal = (rng.pareto(1.3, size=n_items) + 0.05) * np.repeat(rng.pareto(1.5, size=n_artists) + 0.1, per_artist)
    created = START - rng.integers(0, 15 * 365, size=n_items) * DAY
    months = 24
    rows: list[tuple[str, str, int]] = []
    for u in range(n_users):
        genres = rng.choice(n_genres, size=int(rng.integers(1, 3)), replace=False)
        in_genre = np.flatnonzero(np.isin(artist_genre, genres))
        artists = list(rng.choice(in_genre, size=min(len(in_genre), int(rng.integers(2, 7))), replace=False))
        favourites: list[int] = []
        month = int(rng.integers(0, months - 3))
        for _ in range(int(rng.integers(10, 70))):
            month = min(months - 1, month + int(rng.random() < 0.25))
            draw = rng.random()
            if favourites and draw < 0.35:
                item = favourites[int(rng.integers(len(favourites)))]
            elif draw < 0.75:
                artist = artists[int(rng.integers(len(artists)))]
                tracks = np.arange(artist * per_artist, (artist + 1) * per_artist)
                item = int(rng.choice(tracks, p=appeal[tracks] / appeal[tracks].sum()))
            elif draw < 0.93:
                pool = np.flatnonzero(np.isin(clusters, genres))
                item = int(rng.choice(pool, p=appeal[pool] / appeal[pool].sum()))
                if rng.random() < 0.2:
                    artists.append(int(item_artist[item]))
            else:
                item = int(rng.choice(n_items, p=appeal / appeal.sum()))
            if rng.random() < 0.3 and item not in favourites:
                favourites.append(item)
            rows.append((f"u{u}", f"t{item}", START + month * MONTH))
    interactions, items = _frames(rows, created, clusters)
    items["ITEM_ID"] = [f"t{k}" for k in range(n_items)]
    interactions["EVENT_TYPE"] = "listen"
    # Replays within one month are one identical event, as a Personalize import keeps them.
    return interactions.drop_duplicates(ignore_index=True), items


def shop(n_users: int = 2000, n_items: int = 4000, n_categories: int = 40, seed: int = 0) -> Generated:
    """An e-commerce log: sessions of views about one category, some carted, a few bought.

    Items belong to categories and have an appeal; some are consumables bought again every few weeks.
    A session is about one category the user shops (a user has a few); the user views several items
    of it (appealing and promoted ones first; a promotion lifts a few items for two weeks), puts some
    in the cart, buys a few of those. Between sessions: days to weeks; a due consumable is bought again.
    Event types: view, cart, purchase.
    """
    rng = np.random.default_rng(seed)
    span = 365 * DAY
    clusters = rng.integers(n_categories, size=n_items)
    appeal = rng.pareto(1.4, size=n_items) + 0.05
    consumable = rng.random(n_items) < 0.15
    created = START - rng.integers(0, 3 * 365, size=n_items) * DAY
    promo_start = START + rng.integers(0, span, size=n_items)
    promoted = rng.random(n_items) < 0.1
    by_category = [np.flatnonzero(clusters == c) for c in range(n_categories)]
    rows: list[tuple[str, str, int, str]] = []
    for u in range(n_users):
        categories = rng.choice(n_categories, size=int(rng.integers(1, 4)), replace=False)
        t = START + int(rng.integers(0, span - 30 * DAY))
        bought: dict[int, int] = {}
        for _ in range(int(rng.integers(2, 12))):
            if t >= START + span:
                break
            due = [i for i, when in bought.items() if consumable[i] and t - when > 20 * DAY]
            if due and rng.random() < 0.5:
                item = due[int(rng.integers(len(due)))]
                rows += [(f"u{u}", f"p{item}", t, "view"), (f"u{u}", f"p{item}", t + 30, "purchase")]
                bought[item] = t
            members = by_category[int(rng.choice(categories))]
            live = promoted[members] & (t >= promo_start[members]) & (t < promo_start[members] + 14 * DAY)
            weight = appeal[members] * np.where(live, 8.0, 1.0)
            size = min(len(members), int(rng.integers(2, 9)))
            for item in rng.choice(members, size=size, replace=False, p=weight / weight.sum()):
                t += int(rng.integers(20, 300))
                rows.append((f"u{u}", f"p{item}", t, "view"))
                if rng.random() < 0.25:
                    t += int(rng.integers(10, 120))
                    rows.append((f"u{u}", f"p{item}", t, "cart"))
                    if rng.random() < 0.5:
                        rows.append((f"u{u}", f"p{item}", t + int(rng.integers(60, 900)), "purchase"))
                        bought[int(item)] = t
            t += int(rng.exponential(12 * DAY)) + 3600
    interactions = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
    items = pd.DataFrame(
        {
            "ITEM_ID": [f"p{k}" for k in range(n_items)],
            "CREATION_TIMESTAMP": created.astype(np.int64),
            "CATEGORY": [f"c{c}" for c in clusters],
        }
    )
    return interactions, items


GENERATORS: dict[str, Callable[..., Generated]] = {
    "catalogue": catalogue,
    "news": news,
    "sequence": sequence,
    "traffic": traffic,
    "music": music,
    "shop": shop,
}
