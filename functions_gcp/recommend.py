"""Feed handlers: the daily fill (Cloud Scheduler), a callable refresh of the caller's own feed, and a
first feed for a new user. Each parses its event, calls one use case of shared.recommend, maps errors.

The schedule, time zone and users path are deploy-time values, read here through TriggerSettings;
everything else is read per invocation. The daily fill is a ``scheduler_fn`` (Cloud Scheduler → HTTPS),
run after the export (02:00) and the import and training that follow it.
"""

from __future__ import annotations

import os
from typing import Any

import firebase_admin
from firebase_functions import firestore_fn, https_fn, options, scheduler_fn
from firebase_functions.options import Timezone
from google.cloud.firestore_v1 import DocumentSnapshot
from triggers import retried

from shared.config import Settings, TriggerSettings
from shared.errors import ServiceUnavailable
from shared.limits import rule
from shared.logs import correlated, get_logger
from shared.recommend import fill_feeds, first_feed, refresh_user
from shared.recommend.feeds import run_id_for
from shared.recommend.ticks import fill_once
from shared.recommend.wiring import feed_deps

_log = get_logger("functions.recommend")
_TRIGGERS = TriggerSettings.from_env(os.environ)
_SCHEDULE = _TRIGGERS.feed_schedule
_TIME_ZONE = _TRIGGERS.time_zone
_USERS = _TRIGGERS.collections.users
_ACCOUNTS = _TRIGGERS.service_accounts  # the fill and the first feed write feeds; the callable only reads

# The callable wrapper verifies the caller's ID token with the default Admin app before our code runs.
# Registering the app opens no connection and loads no credential until a token is verified.
try:
    firebase_admin.get_app()
except ValueError:
    firebase_admin.initialize_app()


@scheduler_fn.on_schedule(
    schedule=_SCHEDULE,
    timezone=Timezone(_TIME_ZONE),
    retry_count=2,
    min_backoff_seconds=600,
    max_instances=1,  # one fill at a time
    timeout_sec=3600,
    memory=options.MemoryOption.GB_1,
    service_account=_ACCOUNTS.feeds,
)
def fill_feeds_daily(event: scheduler_fn.ScheduledEvent) -> None:
    """Fill every active user's feed once per tick; the run id comes from the schedule time (a retry reuses it).

    Only Cloud Scheduler's deliveries count: they name the job. The wrapper runs this function for any request
    (the Functions emulator's ``GET /__/health`` readiness probe did, as a second fill dated "now").
    """
    if not event.job_name:
        _log.info("not a Cloud Scheduler delivery (no job name): ignored")
        return
    run_id = run_id_for(event.schedule_time)
    with correlated(f"feeds-{run_id}"):
        summary = fill_once(
            feed_deps(Settings.from_env(os.environ)), run_id, lambda deps, rid: fill_feeds(deps, run_id=rid)
        )
        if summary is not None:
            _log.info("feeds filled", extra=summary.as_dict())


@https_fn.on_call(timeout_sec=60, max_instances=20, service_account=_ACCOUNTS.refresh)
def refresh_feed(request: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """Refresh the caller's own feed now: ``{"uid": <own uid>}``, ``{}`` or no data; anyone else's is refused."""
    if request.auth is None or not request.auth.uid:
        raise https_fn.HttpsError(https_fn.FunctionsErrorCode.UNAUTHENTICATED, "sign in to refresh your feed")
    uid = _refresh_target(request.data, request.auth.uid)
    with correlated():
        try:
            result = refresh_user(feed_deps(Settings.from_env(os.environ)), uid)
        except ServiceUnavailable as exc:
            _log.warning("feed refresh: a backing service is unavailable", extra={"reason": str(exc)})
            raise https_fn.HttpsError(https_fn.FunctionsErrorCode.UNAVAILABLE, "try again later") from exc
    return {"uid": result.uid, "kind": result.kind, "stale": result.stale, "items": result.items}


_REFRESH_FIELDS = frozenset({"uid"})


def _refresh_target(data: Any, caller: str) -> str:
    """The uid a refresh request names, checked in order: its shape (INVALID_ARGUMENT), then that it is the
    caller's (PERMISSION_DENIED), then that the caller's uid can be a feed's id and a Personalize user id
    (FAILED_PRECONDITION). Messages never echo the client's value: it may be huge or hostile."""
    invalid = https_fn.FunctionsErrorCode.INVALID_ARGUMENT
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise https_fn.HttpsError(invalid, 'data must be an object: {} or {"uid": "<your uid>"}')
    unknown = set(data) - _REFRESH_FIELDS
    if unknown:
        raise https_fn.HttpsError(invalid, f"unknown fields ({len(unknown)}); only 'uid' is accepted")
    target = data.get("uid", caller)
    if not isinstance(target, str):
        raise https_fn.HttpsError(invalid, "uid must be a string")
    user_id = rule("interactions", "USER_ID")  # what capture accepts as a user id
    if target != caller:
        problem = user_id.problem(target)
        if problem is not None:
            raise https_fn.HttpsError(invalid, f"uid {problem.detail}")
        raise https_fn.HttpsError(https_fn.FunctionsErrorCode.PERMISSION_DENIED, "you may refresh only your own feed")
    problem = user_id.problem(caller)
    if problem is not None:
        raise https_fn.HttpsError(
            https_fn.FunctionsErrorCode.FAILED_PRECONDITION,
            f"this account's uid cannot have a feed: it {problem.detail}",
        )
    return target


@retried  # guarded at the event's time: a redelivery never overwrites the feed it gave, nor a newer one
@firestore_fn.on_document_created(document=f"{_USERS}/{{uid}}", service_account=_ACCOUNTS.feeds)
def first_feed_for_new_user(event: firestore_fn.Event[DocumentSnapshot | None]) -> None:
    """users/{uid} created → a first (popular) feed, unless the user already has one."""
    with correlated(event.id):  # as of the creation event: a redelivery is a no-op, never over a newer feed
        first_feed(feed_deps(Settings.from_env(os.environ)), event.params["uid"], as_of=event.time)
