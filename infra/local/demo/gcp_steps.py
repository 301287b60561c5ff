"""The Firebase side: the app's writes, the clients' clicks under the rules, capture, and the export."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from infra.local.demo.client import ClientWrite, RulesClient, click_write, hostile_clicks
from infra.local.demo.context import DemoContext
from infra.local.demo.data import Click
from shared import wiring
from shared.errors import NotReady
from shared.manifest import manifest_key
from shared.retry import Backoff, retry_call, wait_until

SESSIONS_PER_SECOND = 5
"""The replay's pace (:func:`replay_plan`): the clients' sessions committed in one second, side by side. Slow
enough for the capture triggers to keep up on a loaded 2-core machine: at 8, runs at load average 10 had about
100 of 883 sessions stamped a second late. Generated traffic replays in about 3 minutes, Deskdrop in about 5."""
REPLAY_LEAD_SECONDS = 5
"""Between the stories' publication and the replay's first second (a batch of 500 stories takes well under it)."""
EXPORT_MESSAGES = 4
"""The emulator may miss the first message after start (firebase-tools #8892): publish, wait, repeat."""


def step_app_writes(ctx: DemoContext) -> str:
    """Each user's client writes its own profile; the app's backend publishes the stories (Admin SDK), dated
    for the replay, which starts at ``facts["replay_origin"]`` (a few seconds after the stories)."""
    rules = RulesClient(ctx.firestore_host)
    refused = []
    for uid, profile in ctx.data.profiles.items():
        ok, why = rules.commit(
            uid, [ClientWrite(f"{ctx.settings.collections.users}/{uid}", profile, create_only=False)]
        )
        if not ok:
            refused.append((uid, why[:200]))
    if refused:
        raise RuntimeError(f"the rules refused {len(refused)} profile(s), e.g. {refused[0]}")
    origin = int(time.time()) + REPLAY_LEAD_SECONDS
    ctx.facts["replay_origin"] = origin
    client = ctx.firestore()
    items = list(ctx.data.stories_for_replay(datetime.fromtimestamp(origin, UTC)).items())
    for start in range(0, len(items), 500):
        batch = client.batch()
        for sid, doc in items[start : start + 500]:
            batch.set(client.document(f"{ctx.settings.collections.stories}/{sid}"), doc)
        batch.commit()
    ctx.facts["stories"], ctx.facts["users"] = len(items), len(ctx.data.profiles)
    return (
        f"{ctx.data.source}: {len(ctx.data.profiles)} users wrote their own profile through the rules, "
        f"{len(items)} stories published by the backend"
    )


def _sessions(clicks: list[Click]) -> dict[tuple[str, str], list[Click]]:
    """Clicks grouped by (user, session), sessions in the order of their first click."""
    sessions: dict[tuple[str, str], list[Click]] = {}
    for click in sorted(clicks, key=lambda c: c.at):
        sessions.setdefault((click.user, click.session), []).append(click)
    return sessions


def replay_plan(
    sessions: Iterable[tuple[str, str]], per_second: int = SESSIONS_PER_SECOND
) -> list[list[tuple[str, str]]]:
    """The second (after the replay's origin) each session is committed in: ``plan[s]`` lists second s's sessions.

    The server stamps a click with its commit's time (the rules pin ``createdAt`` to ``request.time``), to the
    second in the export, and the engine reads those times (its recency and session decays, recent popularity,
    the newest rows its validation holds out). Sent as fast as the emulator answers, a session's second would
    depend on the machine's load, and so would the model. On a plan fixed by the data alone, every run that keeps
    to it gives the engine the same times, up to the origin (the engine reads times relative to each other):
    sessions in their order, at most ``per_second`` a second, a reader's sessions in seconds of their own
    (two in one second would tie, and the engine orders a tie by item, not by replay).
    """
    plan: list[list[tuple[str, str]]] = []
    last: dict[str, int] = {}
    cursor = 0
    for key in sessions:
        second = max(cursor, last.get(key[0], -1) + 1)
        while second < len(plan) and len(plan[second]) >= per_second:
            second += 1
        while len(plan) <= second:
            plan.append([])
        plan[second].append(key)
        last[key[0]] = second
        while cursor < len(plan) and len(plan[cursor]) >= per_second:
            cursor += 1
    return plan


@dataclass
class Replay:
    """What the clients' replay did: clicks accepted, and sessions the server stamped outside their planned second."""

    accepted: int = 0
    late: int = 0


def _send_session(rules: RulesClient, uid: str, clicks: list[Click], first_id: int) -> tuple[int, int, float | None]:
    """One reader's session: its ``follow`` clicks one by one, then one commit of the rest; (clicks accepted,
    follow clicks refused, the server time of that commit)."""
    accepted = refused = 0
    n, stamped = first_id, None
    now = datetime.now(UTC)
    for click in (c for c in clicks if c.type == "follow"):  # a client that sends what storyrec does not know
        ok, _why = rules.commit(uid, [click_write(click, f"demo-{n}", now)])
        n += 1
        accepted += ok
        refused += not ok
    good = [c for c in clicks if c.type != "follow"]
    if good:
        writes = [click_write(c, f"demo-{n + i}", now) for i, c in enumerate(good)]
        ok, why, stamped = rules.commit_timed(uid, writes)
        if not ok:
            raise RuntimeError(f"the rules refused a legitimate session of {uid}: {why[:300]}")
        accepted += len(writes)
    return accepted, refused, stamped


def _send_sessions(
    rules: RulesClient,
    sessions: dict[tuple[str, str], list[Click]],
    refused: Counter[str],
    origin: float,
    *,
    per_second: int = SESSIONS_PER_SECOND,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Replay:
    """Commit each session in its second of :func:`replay_plan` after ``origin`` (epoch seconds, whole), a
    second's sessions (each another reader's) side by side; count those stamped outside their second."""
    replay = Replay()
    ids: dict[tuple[str, str], int] = {}  # click ids in session order, whatever the plan
    first_id = 0
    for key, clicks in sessions.items():
        ids[key], first_id = first_id, first_id + len(clicks)
    with ThreadPoolExecutor(max_workers=per_second, thread_name_prefix="demo-replay") as pool:
        for second, keys in enumerate(replay_plan(sessions, per_second)):
            due = origin + second
            if (wait := due - clock()) > 0:
                sleep(wait)
            done = [pool.submit(_send_session, rules, key[0], sessions[key], ids[key]) for key in keys]
            for future in done:
                accepted, follows_refused, stamped = future.result()
                replay.accepted += accepted
                if follows_refused:
                    refused["follow"] += follows_refused
                replay.late += stamped is not None and int(stamped) != int(due)
    return replay


def _send_hostile(ctx: DemoContext, rules: RulesClient, refused: Counter[str]) -> int:
    """Writes the rules must refuse, then clicks they let through for capture to quarantine; how many passed."""
    hostile, quarantine_bound = hostile_clicks(ctx.data, datetime.now(UTC))
    for uid, write in hostile:
        ok, _why = rules.commit(uid, [write])
        if ok:
            raise RuntimeError(f"the rules let a hostile click through: {write.path}")
        refused[write.path.removeprefix("clicks/hostile-")] += 1
    for i, click in enumerate(quarantine_bound):
        ok, why = rules.commit(click.user, [click_write(click, f"demo-q{i}", datetime.now(UTC))])
        if not ok:
            raise RuntimeError(f"the rules refused a well-formed click on an unknown story: {why[:300]}")
    return len(quarantine_bound)


def step_client_clicks(ctx: DemoContext) -> str:
    """Every user's client sends its clicks, one commit per session in time order, plus hostile writes."""
    rules = RulesClient(ctx.firestore_host)
    sessions = _sessions(ctx.data.clicks)
    refused_types: Counter[str] = Counter()
    origin = ctx.facts.get("replay_origin") or int(time.time()) + 1
    replay = _send_sessions(rules, sessions, refused_types, origin)
    accepted = replay.accepted + _send_hostile(ctx, rules, refused_types)
    refused = sum(refused_types.values())
    ctx.facts["clicks_accepted"], ctx.facts["clicks_refused"] = accepted, refused
    ctx.facts["refused_by_kind"], ctx.facts["replay_late"] = dict(refused_types), replay.late
    on_time = (
        "every session in its planned second"
        if not replay.late
        else f"{replay.late} session(s) stamped after their planned second (a loaded machine): another run's "
        "metrics may differ"
    )
    return (
        f"{accepted} clicks accepted in {len(sessions)} session commits (mock user tokens, rules applied; "
        f"{on_time}); {refused} refused by firestore.rules: {dict(sorted(refused_types.items()))}"
    )


def step_capture(ctx: DemoContext) -> str:
    """Wait for the deployed capture triggers: every accepted click becomes an interaction or a quarantine."""
    s = ctx.settings
    quarantine = s.collections.quarantine

    def counts() -> tuple[int, int, int, int]:
        return (
            ctx.count(s.collections.ml_interactions),
            ctx.count(quarantine, "clicks-"),
            ctx.count(s.collections.ml_items),
            ctx.count(s.collections.ml_users),
        )

    expected = ctx.facts["clicks_accepted"]
    interactions, quarantined, items, users = wait_until(
        counts,
        lambda c: c[0] + c[1] >= expected and c[2] >= ctx.facts["stories"] and c[3] >= ctx.facts["users"],
        timeout=120 + expected * 0.25,
        interval=2.0,
        max_interval=2.0,
        what="capture triggers",
    )
    reasons = Counter(str(d.to_dict().get("reason")) for d in ctx.firestore().collection(quarantine).stream())
    ctx.facts.update(interactions=interactions, quarantined=quarantined, quarantine_reasons=dict(reasons))
    ctx.facts["ml_items"], ctx.facts["ml_users"] = items, users
    return (
        f"the Functions emulator captured {items} items, {users} users, {interactions} interactions; "
        f"{quarantined} clicks quarantined {dict(sorted(reasons.items()))}"
    )


def _publish_until_exported(ctx: DemoContext, day: str, key: str) -> tuple[dict[str, Any], int]:
    """Publish the export message and wait for its manifest, up to EXPORT_MESSAGES times; (manifest, messages)."""
    s = ctx.settings
    s3 = wiring.aws_client("s3", s)
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(s.gcp_project, s.export.topic)
    messages = 0

    def manifest() -> dict[str, Any] | None:
        try:
            return json.loads(s3.get_object(Bucket=s.import_bucket, Key=key)["Body"].read())  # type: ignore[no-any-return]
        except s3.exceptions.NoSuchKey:
            return None

    def publish_and_wait() -> dict[str, Any]:
        nonlocal messages
        messages += 1
        publisher.publish(topic, json.dumps({"date": day}).encode()).result(timeout=30)
        found = wait_until(
            manifest, lambda m: m is not None, timeout=45, interval=1.0, max_interval=1.0, what="export manifest"
        )
        assert found is not None
        return found

    try:
        found = retry_call(
            publish_and_wait,
            attempts=EXPORT_MESSAGES,
            backoff=Backoff(initial=0.0),
            retryable=lambda exc: isinstance(exc, NotReady),
        )
    except NotReady:
        raise RuntimeError(f"no manifest at s3://{s.import_bucket}/{key} after {messages} messages") from None
    return found, messages


def step_export(ctx: DemoContext) -> str:
    """Publish today's export message on the export topic; the deployed export function writes the CSVs.

    The export takes complete days only: the functions' clock is moved to 00:30 tomorrow (the schedule's
    time) for this step, the demo's time-lapse (infra/local/demo_clock).
    """
    s = ctx.settings
    today = datetime.now(s.tz).date()
    tick = datetime.combine(today + timedelta(days=1), datetime.min.time(), s.tz) + timedelta(minutes=30)
    assert ctx.clock_file is not None
    key = manifest_key(s.import_prefix, today)
    ctx.clock_file.write_text(str((tick - datetime.now(UTC)).total_seconds()))
    try:
        found, attempts = _publish_until_exported(ctx, today.isoformat(), key)
    finally:
        ctx.clock_file.write_text("")
    rows = {name: spec["rows"] for name, spec in found["datasets"].items()}
    ctx.facts.update(manifest_key=key, exported=rows, export_attempts=attempts, export_day=today.isoformat())
    copies = len(wiring.backup_store(s).list(s.import_prefix))
    return (
        f"{attempts} message(s) on {s.export.topic} → export_daily wrote {rows} rows for {today}; "
        f"manifest s3://{s.import_bucket}/{key}; {copies} objects backed up to gs://{s.backup_bucket}"
    )
