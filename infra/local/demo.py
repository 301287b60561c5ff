"""``storyrec-dev demo``: the whole pipeline through its real wiring on the local stack, narrated.

One command, every stage the way production runs it:

1. the stack: moto (S3, SNS, SQS, CloudWatch), the GCS emulator and the local Personalize engine, plus
   firebase-tools running the Firestore, Pub/Sub and Functions emulators over the deployed
   ``functions_gcp`` code (with ``firestore.rules``);
2. the app writes stories (Admin SDK) and each user's client writes its profile and its clicks through
   the Firestore REST API with a mock user token, so the security rules apply (hostile clicks among
   them: the rules refuse some, capture quarantines others);
3. the capture triggers run in the Functions emulator;
4. the export runs in the Functions emulator on a message published to its Pub/Sub topic;
5. the import, train and monitor Lambdas run through their Powertools decorators with the events AWS
   would send (an S3 ObjectCreated of the manifest, EventBridge scheduled events) and a fake context
   (Lambda cannot run without Docker here);
6. a summary, and the HTML report of ``storyrec report``; the stack is stopped, even on failure.

Real Deskdrop data when ``../shared/data/deskdrop`` is there (a subset sized for the time budget),
generated traffic (:mod:`infra.local.traffic`) otherwise. Each step is a plain function of
:class:`DemoContext` returning one line of narration; what the steps learn goes into ``ctx.facts``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.local.lambda_events import LambdaContext, s3_object_created, scheduled_event
from infra.local.stack import DEFAULT_STATE_DIR, LOCAL_PROJECT, REPO_ROOT, LocalStack, StackError
from shared.config import Settings
from shared.recommend.document import feed_items

DESKDROP_DIR = REPO_ROOT.parent / "shared" / "data" / "deskdrop"
CLOCK_DIR = Path(__file__).resolve().parent / "demo_clock"
AWS_SERVICES = ("moto", "gcs", "personalize")
"""The stack's services the demo starts; Firestore and Pub/Sub come from the firebase-tools suite."""

DESKDROP_TYPES = {"VIEW": "open", "LIKE": "like", "BOOKMARK": "save", "COMMENT CREATED": "comment", "FOLLOW": "follow"}
"""Deskdrop's FOLLOW is sent as ``follow``: a click type storyrec does not have, which the rules refuse."""

T = TypeVar("T")


# --- what the demo writes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    """One click as the client would send it; ``at`` orders the replay (the server stamps the time)."""

    user: str
    story: str
    type: str
    at: int
    session: str
    device: str | None = None
    value: float | None = None


@dataclass
class DemoData:
    """Stories (written by the app's backend), user profiles (written by each user) and clicks."""

    source: str
    stories: dict[str, dict[str, Any]]
    profiles: dict[str, dict[str, Any]]
    clicks: list[Click]

    def titles(self) -> dict[str, str]:
        return {sid: str(doc.get("title") or sid) for sid, doc in self.stories.items()}


def _title(text: Any, words: int = 9) -> str:
    """Deskdrop's items have no title; its summaries open with one, so the first words stand in."""
    parts = str(text or "").split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def _device(user_agent: Any) -> str | None:
    ua = str(user_agent) if isinstance(user_agent, str) else ""
    if not ua:
        return None
    if "Native Mobile App" in ua:
        return "android-app" if ua.startswith("Android") else "ios-app"
    if "Android" in ua:
        return "android"
    return "ios" if "iPhone" in ua or "iPad" in ua else "desktop"


def deskdrop_data(directory: Path, users: int = 100, per_user: int = 30) -> DemoData:
    """The ``users`` most active Deskdrop readers and their ``per_user`` latest events, with the stories they touched.

    Stories missing from articles.csv stay missing (their clicks are quarantined as unknown_story), and
    FOLLOW events are sent as they come (the rules refuse them).
    """
    import pandas as pd

    articles = pd.read_csv(directory / "articles.csv", escapechar="\\", doublequote=False)
    events = pd.read_csv(directory / "users_interactions.csv").sort_values("timestamp", kind="stable")
    active = events["personId"].value_counts().head(users).index
    chosen = events[events["personId"].isin(active)].groupby("personId", sort=False).tail(per_user)
    touched = articles[articles["item_id"].isin(set(chosen["contentId"]))]
    stories = {
        str(row.item_id): {
            "title": _title(row.training_text),
            "summary": str(row.training_text)[:400],
            "category": str(row.article_genre),
            "lang": str(row.lang),
            "publishedAt": datetime.fromtimestamp(int(row.creation_timestamp), UTC),
            "status": "published",
            "source": "deskdrop",
        }
        for row in touched.itertuples(index=False)
    }
    countries = chosen.groupby("personId")["userCountry"].first()
    profiles = {
        str(uid): {"lang": "en", **({"country": str(c)} if isinstance(c, str) and len(c) == 2 else {})}
        for uid, c in countries.items()
    }
    clicks = [
        Click(
            str(row.personId),
            str(row.contentId),
            DESKDROP_TYPES.get(str(row.eventType), str(row.eventType).lower()),
            int(row.timestamp),
            str(row.sessionId),
            _device(row.userAgent),
        )
        for row in chosen.itertuples(index=False)
    ]
    return DemoData("Deskdrop", stories, profiles, clicks)


def generated_data(now: datetime, users: int = 140, stories: int = 400, interactions: int = 2_200) -> DemoData:
    """Generated news traffic (infra/local/traffic.py) of the same size as the Deskdrop subset."""
    from infra.local.traffic import TrafficConfig, build_catalogue, click_documents, story_documents, user_documents

    config = TrafficConfig.ending_before(now, days=7, users=users, stories=stories, interactions=interactions)
    catalogue = build_catalogue(config)
    story_docs = {w.path.split("/", 1)[1]: dict(w.data or {}) for w in story_documents(config, catalogue)}
    profiles = {
        w.path.split("/", 1)[1]: {k: v for k, v in (w.data or {}).items() if k in ("lang", "country")}
        for w in user_documents(catalogue)
    }
    clicks = []
    for w in click_documents(config, catalogue):
        d = w.data or {}
        at = int(d["createdAt"].timestamp())
        clicks.append(Click(d["userId"], d["storyId"], d["type"], at, d["sessionId"], d.get("device"), d.get("value")))
    return DemoData("generated traffic", story_docs, profiles, sorted(clicks, key=lambda c: c.at))


def demo_data(now: datetime, deskdrop: Path | None = DESKDROP_DIR) -> DemoData:
    """Deskdrop when it is there, generated traffic otherwise (the product never needs the dataset)."""
    if deskdrop is not None and (deskdrop / "users_interactions.csv").exists():
        return deskdrop_data(deskdrop)
    return generated_data(now)


# --- a client of the Firestore emulator's REST API, under the security rules -------------------------


def mock_user_token(uid: str, project: str = LOCAL_PROJECT, now: float | None = None) -> str:
    """An unsigned ID token for ``uid``, as the Firebase SDKs' ``mockUserToken`` builds it.

    The emulators accept it without a signature and evaluate the rules with ``request.auth.uid == uid``.
    """
    issued = int(now if now is not None else time.time())
    header = {"alg": "none", "type": "JWT"}
    payload = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "iat": issued,
        "exp": issued + 3600,
        "auth_time": issued,
        "sub": uid,
        "user_id": uid,
        "firebase": {"sign_in_provider": "custom", "identities": {}},
    }

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(payload)}."


def firestore_value(value: Any) -> dict[str, Any]:
    """A Python value as a Firestore REST ``Value``."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, datetime):
        return {"timestampValue": value.astimezone(UTC).isoformat().replace("+00:00", "Z")}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [firestore_value(v) for v in value]}}
    if isinstance(value, Mapping):
        return {"mapValue": {"fields": {str(k): firestore_value(v) for k, v in value.items()}}}
    raise TypeError(f"no Firestore value for {type(value).__name__}")


@dataclass(frozen=True)
class ClientWrite:
    """One document a client creates; ``server_time`` names fields the server sets to the request time."""

    path: str
    data: Mapping[str, Any]
    server_time: tuple[str, ...] = ()
    create_only: bool = True


class RulesClient:
    """Writes to the Firestore emulator as a signed-in app user would: every write passes the rules."""

    def __init__(self, host: str, project: str = LOCAL_PROJECT, timeout: float = 30.0) -> None:
        self._base = f"http://{host}/v1/projects/{project}/databases/(default)/documents"
        self._name = f"projects/{project}/databases/(default)/documents"
        self._timeout = timeout

    def commit(self, uid: str | None, writes: Sequence[ClientWrite]) -> tuple[bool, str]:
        """Commit ``writes`` atomically as ``uid`` (None: signed out); (accepted, the error when refused)."""
        body = {"writes": [self._write(w) for w in writes]}
        headers = {"Content-Type": "application/json"}
        if uid is not None:
            headers["Authorization"] = f"Bearer {mock_user_token(uid)}"
        request = urllib.request.Request(
            f"{self._base}:commit", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout):  # loopback emulator only
                return True, ""
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            if exc.code in (400, 403):  # PERMISSION_DENIED (rules) or a malformed write
                return False, detail
            raise

    def _write(self, write: ClientWrite) -> dict[str, Any]:
        out: dict[str, Any] = {
            "update": {
                "name": f"{self._name}/{write.path}",
                "fields": {k: firestore_value(v) for k, v in write.data.items()},
            }
        }
        if write.server_time:
            out["updateTransforms"] = [{"fieldPath": f, "setToServerValue": "REQUEST_TIME"} for f in write.server_time]
        if write.create_only:
            out["currentDocument"] = {"exists": False}
        return out


def click_write(click: Click, click_id: str, now: datetime, **overrides: Any) -> ClientWrite:
    """A click document as the app's client sends it: ``createdAt`` is the server's time (the rules insist)."""
    data: dict[str, Any] = {
        "userId": click.user,
        "storyId": click.story,
        "type": click.type,
        "clientTime": now,
        "sessionId": click.session,
    }
    if click.device:
        data["device"] = click.device
    if click.value is not None:
        data["value"] = click.value
    server_time: tuple[str, ...] = ("createdAt",)
    if "createdAt" in overrides:
        server_time = ()
    data.update(overrides)
    return ClientWrite(f"clicks/{click_id}", {k: v for k, v in data.items() if v is not None}, server_time)


def hostile_clicks(data: DemoData, now: datetime) -> tuple[list[tuple[str | None, ClientWrite]], list[Click]]:
    """(writes the rules must refuse, clicks the rules let through that capture must quarantine)."""
    user, other = sorted(data.profiles)[:2]
    story = sorted(data.stories)[0]
    base = Click(user, story, "read", 0, "hostile-session", "web")
    refused: list[tuple[str | None, ClientWrite]] = [
        (None, click_write(base, "hostile-signed-out", now)),
        (other, click_write(base, "hostile-impersonation", now)),
        (user, click_write(base, "hostile-type", now, type="teleport")),
        (user, click_write(base, "hostile-csv", now, storyId='s1,"=HYPERLINK(1)"\n')),
        (user, click_write(base, "hostile-backdated", now, createdAt=now - timedelta(days=30))),
        (user, click_write(base, "hostile-extra-field", now, admin=True)),
    ]
    quarantined = [
        Click(user, "story-that-never-existed", "open", 0, "hostile-session", "web"),
        Click(other, "story-deleted-before-it-was-read", "read", 0, "hostile-session", "web", 30.0),
    ]
    return refused, quarantined


# --- the context the steps share -------------------------------------------------------------------


@dataclass
class DemoContext:
    """What the steps share: the settings pointed at the stack, the emulator suite, and the facts learnt."""

    settings: Settings
    env: dict[str, str]
    console: Console
    work: Path
    data: DemoData
    firestore_host: str = ""
    pubsub_host: str = ""
    functions_url: str = ""
    suite_log: Path | None = None
    clock_file: Path | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def firestore(self) -> Any:
        from shared import wiring

        return wiring.firestore_client(self.settings)

    def count(self, collection: str, prefix: str | None = None) -> int:
        query = self.firestore().collection(collection)
        if prefix is not None:  # document ids starting with ``prefix``
            from google.cloud.firestore_v1.field_path import FieldPath

            ref = self.firestore().collection(collection)
            query = query.where(filter=_id_range(FieldPath.document_id(), ref, prefix))
        return int(query.count().get()[0][0].value)


def _id_range(path: Any, ref: Any, prefix: str) -> Any:
    from google.cloud.firestore_v1.base_query import And, FieldFilter

    return And([FieldFilter(path, ">=", ref.document(prefix)), FieldFilter(path, "<", ref.document(prefix + "\uf8ff"))])


Step = Callable[[DemoContext], str]


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll ``probe`` until ``done``; TimeoutError naming ``what`` and the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s (last: {value!r})")
        time.sleep(interval)


# --- the steps -----------------------------------------------------------------------------------


def step_app_writes(ctx: DemoContext) -> str:
    """The app's backend publishes the stories (Admin SDK); each user's client writes its own profile."""
    client = ctx.firestore()
    items = list(ctx.data.stories.items())
    for start in range(0, len(items), 500):
        batch = client.batch()
        for sid, doc in items[start : start + 500]:
            batch.set(client.document(f"{ctx.settings.collections.stories}/{sid}"), doc)
        batch.commit()
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
    ctx.facts["stories"], ctx.facts["users"] = len(items), len(ctx.data.profiles)
    return (
        f"{ctx.data.source}: {len(items)} stories published by the backend, {len(ctx.data.profiles)} users "
        "wrote their own profile through the rules"
    )


def step_client_clicks(ctx: DemoContext) -> str:
    """Every user's client sends its clicks, one commit per session in time order, plus hostile writes."""
    rules = RulesClient(ctx.firestore_host)
    sessions: dict[tuple[str, str], list[Click]] = {}
    for click in sorted(ctx.data.clicks, key=lambda c: c.at):
        sessions.setdefault((click.user, click.session), []).append(click)
    accepted = refused = 0
    refused_types: Counter[str] = Counter()
    n = 0
    for (uid, _), clicks in sessions.items():
        now = datetime.now(UTC)
        good = [c for c in clicks if c.type != "follow"]
        for click in (c for c in clicks if c.type == "follow"):  # a client that sends what storyrec does not know
            ok, _why = rules.commit(uid, [click_write(click, f"demo-{n}", now)])
            n += 1
            accepted, refused = accepted + ok, refused + (not ok)
            refused_types["follow"] += not ok
        if good:
            writes = [click_write(c, f"demo-{n + i}", now) for i, c in enumerate(good)]
            n += len(good)
            ok, why = rules.commit(uid, writes)
            if not ok:
                raise RuntimeError(f"the rules refused a legitimate session of {uid}: {why[:300]}")
            accepted += len(writes)
    hostile, quarantine_bound = hostile_clicks(ctx.data, datetime.now(UTC))
    for uid, write in hostile:
        ok, _why = rules.commit(uid, [write])
        if ok:
            raise RuntimeError(f"the rules let a hostile click through: {write.path}")
        refused += 1
        refused_types[write.path.removeprefix("clicks/hostile-")] += 1
    for i, click in enumerate(quarantine_bound):
        ok, why = rules.commit(click.user, [click_write(click, f"demo-q{i}", datetime.now(UTC))])
        if not ok:
            raise RuntimeError(f"the rules refused a well-formed click on an unknown story: {why[:300]}")
        accepted += 1
    ctx.facts["clicks_accepted"], ctx.facts["clicks_refused"] = accepted, refused
    ctx.facts["refused_by_kind"] = dict(refused_types)
    return (
        f"{accepted} clicks accepted in {len(sessions)} session commits (mock user tokens, rules applied); "
        f"{refused} refused by firestore.rules: {dict(sorted(refused_types.items()))}"
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
    timeout = 120 + expected * 0.25
    interactions, quarantined, items, users = wait_for(
        counts,
        lambda c: c[0] + c[1] >= expected and c[2] >= ctx.facts["stories"] and c[3] >= ctx.facts["users"],
        timeout,
        "capture triggers",
        interval=2.0,
    )
    reasons = Counter(str(d.to_dict().get("reason")) for d in ctx.firestore().collection(quarantine).stream())
    ctx.facts.update(interactions=interactions, quarantined=quarantined, quarantine_reasons=dict(reasons))
    ctx.facts["ml_items"], ctx.facts["ml_users"] = items, users
    return (
        f"the Functions emulator captured {items} items, {users} users, {interactions} interactions; "
        f"{quarantined} clicks quarantined {dict(sorted(reasons.items()))}"
    )


def step_export(ctx: DemoContext) -> str:
    """Publish today's export message on the export topic; the deployed export function writes the CSVs.

    The export takes complete days only: the functions' clock is moved to 00:30 tomorrow (the schedule's
    time) for this step, the demo's time-lapse (infra/local/demo_clock).
    """
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    from shared import wiring
    from shared.export import layout

    s = ctx.settings
    today = datetime.now(s.tz).date()
    tick = datetime.combine(today + timedelta(days=1), datetime.min.time(), s.tz) + timedelta(minutes=30)
    assert ctx.clock_file is not None
    ctx.clock_file.write_text(str((tick - datetime.now(UTC)).total_seconds()))
    s3 = wiring.aws_client("s3", s)
    key = layout.manifest_key(s.import_prefix, today)
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(s.gcp_project, s.export.topic)
    attempts = 0

    def manifest() -> dict[str, Any] | None:
        try:
            return json.loads(s3.get_object(Bucket=s.import_bucket, Key=key)["Body"].read())  # type: ignore[no-any-return]
        except s3.exceptions.NoSuchKey:
            return None

    found = None
    try:
        # the emulator may miss the first message after start (firebase-tools #8892): publish, wait, repeat
        while found is None and attempts < 4:
            attempts += 1
            publisher.publish(topic, json.dumps({"date": today.isoformat()}).encode()).result(timeout=30)
            with contextlib.suppress(TimeoutError):
                found = wait_for(manifest, lambda m: m is not None, 45, "export manifest", interval=1.0)
    finally:
        ctx.clock_file.write_text("")
    if found is None:
        raise RuntimeError(f"no manifest at s3://{s.import_bucket}/{key} after {attempts} messages")
    rows = {name: spec["rows"] for name, spec in found["datasets"].items()}
    ctx.facts.update(manifest_key=key, exported=rows, export_attempts=attempts, export_day=today.isoformat())
    copies = len(wiring.backup_store(s).list(s.import_prefix))
    return (
        f"{attempts} message(s) on {s.export.topic} → export_daily wrote {rows} rows for {today}; "
        f"manifest s3://{s.import_bucket}/{key}; {copies} objects backed up to gs://{s.backup_bucket}"
    )


def invoke(ctx: DemoContext, handler: Callable[[dict[str, Any], Any], T], event: dict[str, Any], name: str) -> T:
    """Call a Lambda handler through its decorators; its EMF metrics (printed) go to the Lambda log file."""
    with (
        open(ctx.work / "lambda.log", "a", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", "No application metrics to publish")
        return handler(event, LambdaContext(name))


LOGGERS = ("storyrec", "storyrec-import", "storyrec-train", "storyrec-monitor")
"""The product's JSON log (shared.logs) and the Lambdas' Powertools loggers (named by service)."""


@contextlib.contextmanager
def logs_to(path: Path) -> Iterator[None]:
    """Send the product's logs to ``path`` while the demo narrates (they stay there for a failing step)."""
    from functions_aws import import_manifest, monitor, train  # noqa: F401  (their loggers exist from import)
    from shared.logs import get_logger

    get_logger("demo")  # installs the product's handler, which the demo then points at the file
    with open(path, "a", encoding="utf-8") as sink:
        swapped = []
        for name in LOGGERS:
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                    swapped.append((handler, handler.setStream(sink)))
        try:
            yield
        finally:
            for handler, stream in swapped:
                handler.setStream(stream)


def _stage(ctx: DemoContext) -> Any:
    from shared.personalize.wiring import stage_deps

    return stage_deps(ctx.settings)


def step_import(ctx: DemoContext) -> str:
    """The import Lambda on the manifest's S3 event; the monitor's schedule re-drives what had to wait."""
    from functions_aws import import_manifest, monitor
    from shared import wiring
    from shared.personalize.stage import ensure_datasets, pending_imports

    s = ctx.settings
    key = ctx.facts["manifest_key"]
    size = wiring.aws_client("s3", s).head_object(Bucket=s.import_bucket, Key=key)["ContentLength"]
    first = invoke(ctx, import_manifest.handler, s3_object_created(s.import_bucket, key, size), "storyrec-import")
    again = invoke(ctx, import_manifest.handler, s3_object_created(s.import_bucket, key, size), "storyrec-import")
    deps = _stage(ctx)

    def settled() -> bool:
        invoke(ctx, monitor.handler, scheduled_event("storyrec-monitor", datetime.now(UTC)), "storyrec-monitor")
        return not deps.state.parked_imports() and pending_imports(deps, ensure_datasets(deps)) == 0

    wait_for(settled, bool, 180, "dataset import jobs", interval=1.0)
    [outcome] = first["manifests"]
    [repeat] = again["manifests"]
    ctx.facts["import_jobs"] = len(outcome["started"]) + len(repeat["started"])
    return (
        f"S3 ObjectCreated → import Lambda started {len(outcome['started'])} import jobs; the repeated event "
        f"started {len(repeat['started'])}; all ACTIVE"
    )


def step_train(ctx: DemoContext) -> str:
    """The train Lambda on its monthly EventBridge schedule."""
    from functions_aws import train

    result = invoke(ctx, train.handler, scheduled_event("storyrec-train", datetime.now(UTC)), "storyrec-train")
    if result.get("deferred"):
        raise RuntimeError(f"training deferred: {result['deferred']}")
    ctx.facts["training"] = result
    return f"EventBridge → train Lambda started {result['name']}: {sorted(result['versions'])} solution versions"


def step_monitor(ctx: DemoContext) -> str:
    """The monitor Lambda, on its schedule, until training ends and the promotion is decided."""
    from functions_aws import monitor
    from shared.personalize.stage import campaign_arn

    def one_pass() -> dict[str, Any]:
        event = scheduled_event("storyrec-monitor", datetime.now(UTC))
        return invoke(ctx, monitor.handler, event, "storyrec-monitor")  # type: ignore[no-any-return]

    passes = [0]

    def counted() -> dict[str, Any]:
        passes[0] += 1
        return one_pass()

    wait_for(counted, lambda r: r.get("decision") is not None, 420, "training and the promotion decision", 2.0)
    deps = _stage(ctx)
    version = ctx.facts["training"]["versions"]["main"]
    decision = deps.state.decision_for(version) or {}
    ctx.facts["decision"] = decision
    arn = campaign_arn(deps)
    deployed_by_hand = False
    if arn is None and decision.get("candidate"):
        # nothing serves yet and the candidate was kept: the operator's manual path (the decision's
        # promote_command) deploys it, so the app has feeds from day one
        p = deps.settings.personalize
        arn = deps.personalize.ensure_campaign(p.campaign, decision["candidate"], p.min_campaign_tps)
        deployed_by_hand = True
    if arn is not None:
        wait_for(
            lambda: deps.personalize.describe_campaign(arn),
            lambda c: c.status.value == "ACTIVE" and not (c.latest_update and c.latest_update.status.pending),
            180,
            "campaign",
            1.0,
        )
    ctx.facts["campaign"], ctx.facts["deployed_by_hand"] = arn, deployed_by_hand
    metric = deps.settings.aws_stage.primary_metric
    candidate = (decision.get("metrics") or {}).get("candidate") or {}
    baseline = (decision.get("metrics") or {}).get("baseline") or {}
    return (
        f"{passes[0]} monitor passes; decision {decision.get('action')!r} ({'; '.join(decision.get('reasons', []))}); "
        f"{metric} {candidate.get(metric, 0):.3f} vs popularity {baseline.get(metric, 0):.3f}; "
        f"campaign ACTIVE{' (no campaign served yet: deployed by hand, as the decision says)' * deployed_by_hand}"
    )


FEED_FILL_FUNCTION = "fill_feeds_daily"
"""The scheduled feed fill in functions_gcp/recommend.py."""


def scheduler_tick(functions_url: str, function: str, at: datetime, region: str = "us-central1") -> int:
    """POST to a scheduled function as Cloud Scheduler's job does (its headers name the job and the time).

    firebase-tools serves a scheduled function at ``/<project>/<region>/<name>-0`` (its trigger key);
    the plain name is tried next. Returns the HTTP status.
    """
    headers = {
        "X-CloudScheduler-JobName": f"firebase-schedule-{function}-{region}",
        "X-CloudScheduler-ScheduleTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "User-Agent": "Google-Cloud-Scheduler",
        "Content-Type": "application/json",
    }
    status = 0
    for name in (f"{function}-0", function):
        request = urllib.request.Request(
            f"{functions_url}/{LOCAL_PROJECT}/{region}/{name}", data=b"{}", headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as response:  # loopback emulator only
                return int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            if exc.code != 404:
                raise RuntimeError(f"{function}: HTTP {exc.code}: {exc.read()[:500]!r}") from exc
    raise RuntimeError(f"{function}: not served by the Functions emulator (HTTP {status})")


def step_feeds(ctx: DemoContext) -> str:
    """The daily feed fill, invoked the way its Cloud Scheduler job invokes it (an authenticated POST)."""
    s = ctx.settings
    feeds = ctx.firestore().collection(s.collections.feeds)
    started = datetime.now(UTC)
    status = scheduler_tick(ctx.functions_url, FEED_FILL_FUNCTION, started)
    from google.cloud.firestore_v1.base_query import FieldFilter

    written = int(feeds.where(filter=FieldFilter("generatedAt", ">=", started)).count().get()[0][0].value)
    if written == 0:
        raise RuntimeError(f"{FEED_FILL_FUNCTION} answered {status} but wrote no feed")
    docs = {d.id: d.to_dict() or {} for d in feeds.stream()}
    kinds = Counter(str(doc.get("kind")) for doc in docs.values())
    ctx.facts.update(feeds=len(docs), feeds_written=written, feed_kinds=dict(kinds))
    ctx.facts["showcase"] = showcase(ctx.data, docs)
    return f"Cloud Scheduler's POST → {FEED_FILL_FUNCTION} wrote {written} feeds {dict(sorted(kinds.items()))}"


def showcase(data: DemoData, feeds: Mapping[str, Mapping[str, Any]], size: int = 6) -> dict[str, Any] | None:
    """The most active reader with a personalized feed: their latest reads beside their new feed, by title."""
    titles = data.titles()
    clicks = Counter(c.user for c in data.clicks if c.story in titles)
    chosen = next((u for u, _ in clicks.most_common() if feeds.get(u, {}).get("kind") == "personalized"), None)
    if chosen is None:
        return None
    reads: list[str] = []
    for click in sorted((c for c in data.clicks if c.user == chosen and c.story in titles), key=lambda c: -c.at):
        if titles[click.story] not in reads:
            reads.append(titles[click.story])
    items = feed_items(feeds[chosen])
    feed = [str(i.get("title") or titles.get(str(i.get("storyId")), i.get("storyId"))) for i in items]
    return {"user": chosen, "reads": reads[:size], "feed": feed[:size]}


def step_report(ctx: DemoContext) -> str:
    """``storyrec report``: the operator's HTML report, written by the real command."""
    out = ctx.work / "storyrec-report.html"
    command = [str(Path(sys.executable).with_name("storyrec")), "report", "--out", str(out), "--days", "7"]
    env = {**os.environ, **ctx.env}
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"storyrec report failed ({done.returncode}): {done.stderr[-1500:]}")
    ctx.facts["report"] = str(out)
    return f"{out} ({out.stat().st_size / 1000:.0f} kB)"


STEPS: list[tuple[str, Step]] = [
    ("App: stories (backend) and profiles (clients, rules)", step_app_writes),
    ("Clients: clicks through firestore.rules", step_client_clicks),
    ("Capture: the deployed triggers in the Functions emulator", step_capture),
    ("Export: the daily message on Pub/Sub → export_daily", step_export),
    ("Import Lambda: S3 ObjectCreated of the manifest", step_import),
    ("Train Lambda: EventBridge schedule", step_train),
    ("Monitor Lambda: training → promotion decision", step_monitor),
    ("Feeds: the scheduled fill", step_feeds),
    ("Report: storyrec report", step_report),
]


# --- the summary -----------------------------------------------------------------------------------


def summary_tables(ctx: DemoContext) -> list[Table]:
    """Counts per stage, quarantine, metrics against the baseline, one user's reads beside their feed."""
    f = ctx.facts
    stages = Table("stage", "count", title="counts per stage")
    for label, key in (
        ("stories published", "stories"),
        ("users", "users"),
        ("clicks accepted by the rules", "clicks_accepted"),
        ("clicks refused by the rules", "clicks_refused"),
        ("items captured", "ml_items"),
        ("users captured", "ml_users"),
        ("interactions captured", "interactions"),
        ("clicks quarantined", "quarantined"),
    ):
        if key in f:
            stages.add_row(label, str(f[key]))
    for name, rows in (f.get("exported") or {}).items():
        stages.add_row(f"exported {name}", str(rows))
    if "import_jobs" in f:
        stages.add_row("import jobs", str(f["import_jobs"]))
    tables = [stages]
    if f.get("quarantine_reasons"):
        reasons = Table("reason", "clicks", title="quarantined by capture")
        for reason, count in sorted(f["quarantine_reasons"].items()):
            reasons.add_row(reason, str(count))
        tables.append(reasons)
    decision = f.get("decision") or {}
    if decision:
        metrics = decision.get("metrics") or {}
        table = Table("metric", "candidate", "popularity baseline", title=f"promotion: {decision.get('action')}")
        for name in sorted(metrics.get("candidate") or {}):
            base = (metrics.get("baseline") or {}).get(name)
            table.add_row(name, f"{metrics['candidate'][name]:.4f}", "-" if base is None else f"{base:.4f}")
        tables.append(table)
    if f.get("showcase"):
        show = f["showcase"]
        table = Table("recent reads", "new feed", title=f"user {show['user']}")
        reads, feed = show["reads"], show["feed"]
        for i in range(max(len(reads), len(feed))):
            table.add_row(reads[i] if i < len(reads) else "", feed[i] if i < len(feed) else "")
        tables.append(table)
    return tables


# --- running it ------------------------------------------------------------------------------------


@dataclass
class DemoOutcome:
    """What a run did: each step's result line and seconds, the facts, and the wall time."""

    results: list[tuple[str, str, float, bool]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    stack_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.stack_error is None and bool(self.results) and all(ok for *_, ok in self.results)


def deployed_functions(source: Path = REPO_ROOT / "functions_gcp") -> int:
    """How many functions ``functions_gcp`` deploys (its ``@*_fn.on_*`` decorators): the suite waits for all."""
    import re

    pattern = re.compile(r"^@\w+_fn\.on_\w+\(", re.MULTILINE)
    return sum(len(pattern.findall(path.read_text(encoding="utf-8"))) for path in source.glob("*.py"))


def provision(settings: Settings) -> None:
    """Create what the deploys create in production (serverless.yml, the Firebase project): the two buckets."""
    from shared import wiring

    wiring.aws_client("s3", settings).create_bucket(Bucket=settings.import_bucket)
    wiring.storage_client(settings).create_bucket(settings.backup_bucket)


def function_env(stack_env: Mapping[str, str], clock_file: Path) -> dict[str, str]:
    """What the Functions emulator's Python runs with: the AWS and GCS endpoints, the demo clock."""
    env = {k: v for k, v in stack_env.items() if k.startswith("AWS_") or k == "STORAGE_EMULATOR_HOST"}
    path = os.pathsep.join(filter(None, [str(CLOCK_DIR), os.environ.get("PYTHONPATH")]))
    return {
        **env,
        "STORYREC_TIME_ZONE": "UTC",
        # the replayed Deskdrop stories were published in 2016-2017: let feeds show stories of any age
        "STORYREC_FEED_MAX_STORY_AGE_DAYS": "36500",
        "STORYREC_DEMO_CLOCK_FILE": str(clock_file),
        "PYTHONPATH": path,
        "POWERTOOLS_METRICS_NAMESPACE": "storyrec",
        "POWERTOOLS_SERVICE_NAME": "storyrec",
    }


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set process variables for the run (the SDKs and the suite read them) and restore them after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(
    state_dir: Path | None = None,
    *,
    keep: bool = False,
    console: Console | None = None,
    data: DemoData | None = None,
    steps: Sequence[tuple[str, Step]] | None = None,
) -> DemoOutcome:
    """Start the stack and the suite, run the steps (stopping at the first failure), stop everything."""
    from infra.local.firebase import emulators

    console = console or Console()
    started = time.monotonic()
    outcome = DemoOutcome()
    state = Path(state_dir or DEFAULT_STATE_DIR.parent / "demo")
    work = state / "run"
    work.mkdir(parents=True, exist_ok=True)
    (work / "lambda.log").write_text("")
    stack = LocalStack(state)
    fresh_engine_state(stack)
    try:
        with contextlib.ExitStack() as cleanup:
            console.rule("[bold]starting the local stack")
            try:
                stack_env = stack.up(AWS_SERVICES, log=lambda m: console.print(m, markup=False))
            except StackError as exc:
                outcome.stack_error = str(exc)
                console.print(f"stack failed to start: {exc}", style="red", markup=False)
                return outcome
            if not keep:
                cleanup.callback(stack.down, log=lambda m: console.print(m, markup=False))
            clock_file = work / "clock-offset"
            clock_file.write_text("")
            env = {**stack_env, "GOOGLE_CLOUD_PROJECT": LOCAL_PROJECT}
            cleanup.enter_context(_environment({**env, **function_env(env, clock_file)}))
            env["STORYREC_SNS_TOPIC_ARN"] = _alerts_topic(Settings.from_env(os.environ))
            cleanup.enter_context(_environment(env))
            provision(Settings.from_env(os.environ))
            console.rule("[bold]starting the Firebase emulator suite (Firestore + rules, Pub/Sub, Functions)")
            try:
                tools_env = emulators.setup()
                emulators.bundle()
                suite = cleanup.enter_context(
                    emulators.firebase_suite(
                        work / "firebase", tools_env, functions=deployed_functions(), timeout=240.0, pubsub=True
                    )
                )
            except emulators.EmulatorError as exc:
                outcome.stack_error = f"the Firebase emulator suite did not start: {exc}"
                console.print(outcome.stack_error, style="red", markup=False)
                return outcome
            env.update(suite.env)
            cleanup.enter_context(_environment(suite.env))
            ctx = DemoContext(
                Settings.from_env(os.environ),
                env,
                console,
                work,
                data or demo_data(datetime.now(UTC)),
                firestore_host=suite.firestore_host,
                pubsub_host=suite.pubsub_host or "",
                functions_url=f"http://127.0.0.1:{suite.functions_port}",
                suite_log=suite.log,
                clock_file=clock_file,
                facts=outcome.facts,
            )
            console.print(f"data: {ctx.data.source}, {len(ctx.data.clicks)} clicks", markup=False)
            with logs_to(work / "storyrec.log"):
                _run_steps(ctx, steps or STEPS, outcome)
            for table in summary_tables(ctx):
                console.print(table)
    finally:
        outcome.seconds = time.monotonic() - started
        if keep:
            console.print(f"stack left running: storyrec-dev stack down --state-dir {stack.state_dir}", markup=False)
        console.print(f"demo wall time: {outcome.seconds:.0f} s", markup=False)
    return outcome


def fresh_engine_state(stack: LocalStack) -> None:
    """Start from an empty Personalize engine (the rest of the stack keeps nothing): a rerun must train anew.

    Only while the stack is down: a running engine's state is left alone.
    """
    import shutil

    if all(state == "down" for state in stack.status().values()):
        shutil.rmtree(stack.state_dir / "personalize", ignore_errors=True)


def _alerts_topic(settings: Settings) -> str:
    """The operators' SNS topic serverless.yml creates."""
    from shared import wiring

    return str(wiring.aws_client("sns", settings).create_topic(Name="storyrec-alerts")["TopicArn"])


def _run_steps(ctx: DemoContext, steps: Sequence[tuple[str, Step]], outcome: DemoOutcome) -> None:
    table = Table("step", "", "seconds", title="storyrec demo")
    failed = False
    for title, step in steps:
        if failed:
            outcome.results.append((title, "not run: an earlier step failed", 0.0, False))
            table.add_row(title, Text("not run", style="dim"), "-")
            continue
        ctx.console.rule(f"[bold]{title}")
        began = time.monotonic()
        try:
            result, ok = step(ctx), True
        except Exception as exc:  # the demo reports the failing step, then stops the stack
            result, ok, failed = f"FAILED: {type(exc).__name__}: {exc}", False, True
        seconds = time.monotonic() - began
        ctx.console.print(result, style="green" if ok else "red", markup=False)
        outcome.results.append((title, result, seconds, ok))
        table.add_row(title, Text("ok", style="green") if ok else Text("FAILED", style="red"), f"{seconds:.1f}")
    ctx.console.print(table)
    if failed and ctx.suite_log is not None:
        ctx.console.print(
            f"logs: {ctx.suite_log} (emulators, functions), {ctx.work / 'storyrec.log'}, {ctx.work / 'lambda.log'}",
            markup=False,
        )


def run_demo(state_dir: Path | None, *, keep: bool = False, console: Console | None = None) -> int:
    """``storyrec-dev demo``: 0 when every step passed."""
    return 0 if execute(state_dir, keep=keep, console=console).ok else 1
