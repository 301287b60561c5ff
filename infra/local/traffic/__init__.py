"""Generated news traffic: a seeded, numpy-vectorised stand-in for a news app's readers (dev tooling).

What it models, each knob in :class:`TrafficConfig`:

- **Stories** published over the period (plus a short warm-up before it), each with a topic and an
  appeal drawn from a power law (Zipf over a random ranking of the catalogue).
- **Recency**: a story's attention decays exponentially with its age (``half_life_hours``); nobody
  clicks a story before it is published.
- **Users** with heavy-tailed activity (log-normal, as Deskdrop's: median 10 events, mean 38) and
  interests concentrated on a few topics (a Dirichlet draw around the global topic shares).
- **Sessions**: a user, a start time following a day/night profile, a geometric number of events
  (Deskdrop: 2.5 per session) spaced by exponential gaps; an event may act on the story the previous
  event of the session touched (open, then read, then like).
- **Event mix** like Deskdrop's (VIEW 84.5%, LIKE 7.9%, BOOKMARK 3.4%, COMMENT CREATED 2.2%; FOLLOW,
  which storyrec has no counterpart for, is left out), with VIEW split into ``open`` and ``read``.
  A ``read`` carries EVENT_VALUE, the seconds read.

Picking a story for a click at time ``t`` in topic ``k`` is the costly part; it is one ``searchsorted``
per event because exponential decay factorises: ``appeal * exp(-(t - pub) / tau)`` is proportional, at
a fixed ``t``, to ``appeal * exp(pub / tau)``. Per topic, stories are sorted by publication time and
those weights summed cumulatively (relative to a reference time per epoch, so nothing overflows); the
stories published by ``t`` are a prefix of that order.

Outputs, streamed chunk by chunk so 10M interactions fit in a few hundred MB:

- Firestore documents as the app and its clients write them (``stories``, ``users``, ``clicks``; see
  docs/capture.md), as :class:`shared.ports.Write` objects;
- Personalize bulk CSVs (columns from the Avro schemas in ``infra/personalize/schemas``).

``python -m infra.local.traffic --help`` writes the CSVs (and optionally JSON lines of the documents).

Modules: ``config`` (the knobs), ``generate`` (catalogue and interaction chunks), ``personalize_csv`` and
``documents`` (the two outputs), ``cli``. Their public names are importable from this package.
"""

from infra.local.traffic.config import (
    COUNTRIES,
    DESKDROP_EVENT_COUNTS,
    DEVICES,
    EVENT_TYPES,
    LANGUAGES,
    SOURCES,
    TOPICS,
    TrafficConfig,
    deskdrop_event_mix,
)
from infra.local.traffic.documents import click_documents, story_documents, user_documents
from infra.local.traffic.generate import (
    AUTO_ID_LENGTH,
    UID_LENGTH,
    Catalogue,
    InteractionChunk,
    build_catalogue,
    interaction_chunks,
    random_ids,
)
from infra.local.traffic.personalize_csv import interactions_frame, items_frame, users_frame, write_personalize_csvs

__all__ = [
    "AUTO_ID_LENGTH",
    "COUNTRIES",
    "DESKDROP_EVENT_COUNTS",
    "DEVICES",
    "EVENT_TYPES",
    "LANGUAGES",
    "SOURCES",
    "TOPICS",
    "UID_LENGTH",
    "Catalogue",
    "InteractionChunk",
    "TrafficConfig",
    "build_catalogue",
    "click_documents",
    "deskdrop_event_mix",
    "interaction_chunks",
    "interactions_frame",
    "items_frame",
    "random_ids",
    "story_documents",
    "user_documents",
    "users_frame",
    "write_personalize_csvs",
]
