"""Retry on for event triggers whose decorator has no ``retry`` option (firebase-functions 0.6.0 Firestore triggers).

The decorator writes ``retry: false`` into the endpoint manifest the Firebase CLI deploys from
(firebase/firebase-functions-python#165); :func:`retried` sets it to true in that manifest entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


def retried(function: _F) -> _F:
    """Mark a decorated event function ``retry: true`` in the manifest the Firebase CLI deploys."""
    endpoint = function.__firebase_endpoint__  # type: ignore[attr-defined]
    if endpoint.eventTrigger is None:
        raise TypeError(f"{function.__name__} is not an event-triggered function")
    trigger = {**endpoint.eventTrigger, "retry": True}
    function.__firebase_endpoint__ = dataclasses.replace(endpoint, eventTrigger=trigger)  # type: ignore[attr-defined]
    return function
