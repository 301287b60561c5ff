"""The invariants checked every simulated day: each yields a ledger record ``ok``, ``violated`` or ``not checked``.

A check that cannot be made (yet) says ``not checked`` with the reason: it never passes silently.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from infra.local.simulate.world import World, accepted
from shared import wiring
from shared.config import Settings
from shared.manifest import Manifest, is_manifest_key, manifests_prefix, read_manifest

Key = tuple[str, str, int, str]


@dataclass
class Check:
    name: str
    status: str  # "ok" | "violated" | "not checked"
    detail: str = ""
    examples: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"invariant": self.name, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        if self.examples:
            out["examples"] = [str(e) for e in self.examples[:5]]
        return out


def ok(name: str, detail: str = "") -> Check:
    return Check(name, "ok", detail)


def violated(name: str, detail: str, examples: Iterable[Any] = ()) -> Check:
    return Check(name, "violated", detail, list(examples))


def not_checked(name: str, why: str) -> Check:
    return Check(name, "not checked", why)


def _row_key(row: list[str], header: list[str]) -> Key:
    r = dict(zip(header, row, strict=False))
    return (r["USER_ID"], r["ITEM_ID"], int(r["TIMESTAMP"]), r["EVENT_TYPE"])


class Exports:
    """Every interactions row the export wrote to S3, per manifest (re-read only when a manifest changes: its
    listed ETag, then its run id)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, list[Key]]] = {}
        self._etags: dict[str, str] = {}
        self.manifests: dict[str, Manifest] = {}
        self.records: dict[str, list[dict[str, str]]] = {}
        """Each manifest's interactions rows as read (column: value): what later checks read, since the parts of
        a held day may expire (``held_file_expires``) after this read."""

    def refresh(self, settings: Settings) -> None:
        import csv
        import io

        store = wiring.import_store(settings)
        prefix = settings.import_prefix
        listed = {o.key: o.etag for o in store.list(manifests_prefix(prefix)) if is_manifest_key(o.key, prefix)}
        for key in sorted(listed):
            etag = listed[key]
            if etag and key in self._seen and self._etags.get(key) == etag:
                continue
            manifest = read_manifest(store, key)
            if etag:
                self._etags[key] = etag
            if key in self._seen and self._seen[key][0] == manifest.run_id:
                continue
            rows: list[Key] = []
            records: list[dict[str, str]] = []
            spec = manifest.dataset("interactions")
            for part in spec.files if spec else ():
                reader = csv.reader(io.StringIO(store.get_bytes(part.key).decode("utf-8")))
                header = next(reader)
                found = [r for r in reader if r]
                rows += [_row_key(r, header) for r in found]
                records += [dict(zip(header, r, strict=False)) for r in found]
            self._seen[key] = (manifest.run_id, rows)
            self.records[key] = records
            self.manifests[key] = manifest

    def counts(self) -> Counter[Key]:
        total: Counter[Key] = Counter()
        for _, rows in self._seen.values():
            total.update(rows)
        return total

    def rows_of(self, manifest_keys_: Iterable[str]) -> Counter[Key]:
        total: Counter[Key] = Counter()
        for key in manifest_keys_:
            if key in self._seen:
                total.update(self._seen[key][1])
        return total


def check_capture(world: World, since: int = 0) -> list[Check]:
    """Every legitimate click captured once into ml_interactions; every hostile one quarantined, not captured.

    The outcomes are checked for every click; the ``ml_interactions`` documents for the clicks from index
    ``since`` on (the run reads each click's document the day it is written and all of them on the final
    night, instead of every document every day).
    """
    legit = [c for c in world.clicks if not c.hostile]
    lost = [c for c in legit if not accepted(c)]
    hostile_in = [c for c in world.clicks if c.hostile and c.outcome != "quarantined"]
    checks = [
        violated(
            "clicks captured", f"{len(lost)} legitimate click(s) not captured", [(c.click_id, c.outcome) for c in lost]
        )
        if lost
        else ok("clicks captured", f"{len(legit)} legitimate clicks captured"),
        violated(
            "hostile clicks quarantined",
            f"{len(hostile_in)} hostile click(s) not quarantined",
            [(c.click_id, c.hostile, c.outcome) for c in hostile_in],
        )
        if hostile_in
        else ok("hostile clicks quarantined", f"{sum(1 for c in world.clicks if c.hostile)} quarantined"),
    ]
    collection = world.firestore.collection(world.settings.collections.ml_interactions)
    written = world.clicks[since:]
    ids = [c.click_id for c in written]
    present: set[str] = set()
    for start in range(0, len(ids), 300):
        refs = [collection.document(i) for i in ids[start : start + 300]]
        present |= {snap.id for snap in world.firestore.get_all(refs) if snap.exists}
    missing = [c.click_id for c in written if accepted(c) and c.click_id not in present]
    leaked = [c.click_id for c in written if c.hostile and c.click_id in present]
    scope = f"of the {len(written)} clicks written since the last check" if since else f"of all {len(written)} clicks"
    checks.append(
        violated(
            "ml_interactions match the ground truth",
            f"{len(missing)} missing, {len(leaked)} hostile present ({scope})",
            missing + leaked,
        )
        if missing or leaked
        else ok("ml_interactions match the ground truth", f"{len(present)} documents {scope}")
    )
    return checks


HOSTILE_IMPRESSIONS = "hostile impressions quarantined"


def hostile_impressions_check(
    world: World, quarantined: dict[str, dict[str, Any]], captured: set[str]
) -> Check:
    """Each hostile impression (a capture corpus case) was quarantined with the reason the corpus expects, or
    refused by Firestore (a document it cannot hold never reaches capture); none is in ``ml_impressions``.
    ``quarantined``: the ``ml_quarantine`` records by impression id; ``captured``: the ids in ``ml_impressions``."""
    wrong: list[Any] = []
    refused = 0
    for imp in world.hostile_impressions:
        if imp.impression_id in captured:
            wrong.append((imp.impression_id[:40], imp.case, "in ml_impressions"))
        elif imp.outcome == "refused":
            refused += 1
        elif imp.outcome != "quarantined":
            wrong.append((imp.impression_id[:40], imp.case, imp.outcome or "not sent"))
        elif (quarantined.get(imp.impression_id) or {}).get("reason") != imp.reason:
            got = (quarantined.get(imp.impression_id) or {}).get("reason", "no quarantine record")
            wrong.append((imp.impression_id[:40], imp.case, f"quarantined as {got}, the corpus says {imp.reason}"))
    total = len(world.hostile_impressions)
    if wrong:
        return violated(HOSTILE_IMPRESSIONS, f"{len(wrong)} of {total} hostile impressions", wrong)
    cases = len({i.case for i in world.hostile_impressions})
    return ok(
        HOSTILE_IMPRESSIONS,
        f"{total} hostile impressions ({cases} corpus cases): {total - refused} quarantined with the corpus's reason, "
        f"{refused} refused by Firestore",
    )


def check_hostile_impressions(world: World) -> Check:
    """:func:`hostile_impressions_check` with the quarantine records and ``ml_impressions`` read back."""
    from shared.capture.quarantine import quarantine_id

    c = world.settings.collections
    keys = {i.impression_id: quarantine_id("impressions", i.impression_id) for i in world.hostile_impressions}
    records = read_docs(world, c.quarantine, keys.values())
    quarantined = {i: records[key] for i, key in keys.items() if key in records}
    valid = [i.impression_id for i in world.hostile_impressions if _document_id(i.impression_id)]
    return hostile_impressions_check(world, quarantined, set(read_docs(world, c.ml_impressions, valid)))


def _document_id(doc_id: str) -> bool:
    """Whether Firestore could name a document so (else no document can have that id)."""
    return bool(doc_id) and "/" not in doc_id and len(doc_id.encode("utf-8", "surrogatepass")) <= 1500


def check_export(world: World, exports: Exports, watermark: datetime | None) -> list[Check]:
    """Every accepted click before the export watermark exported exactly once, none after it; nothing else."""
    if watermark is None:
        return [not_checked("clicks exported exactly once", "no export has run yet")]
    counts = exports.counts()
    truth = {c.key: c for c in world.clicks if accepted(c)}
    due = {k for k, c in truth.items() if c.created < watermark}
    missing = sorted(k for k in due if counts[k] == 0)
    twice = sorted(k for k, n in counts.items() if n > 1)
    early = sorted(k for k in truth if k not in due and counts[k] > 0)
    unknown = sorted(k for k in counts if k not in truth)
    hostile = {(c.uid, c.sid) for c in world.clicks if c.hostile}
    hostile_rows = sorted(k for k in counts if (k[0], k[1]) in hostile and k not in truth)
    out = []
    if missing or twice or early or unknown:
        out.append(
            violated(
                "clicks exported exactly once",
                f"{len(missing)} never exported, {len(twice)} exported twice, {len(early)} exported before their day, "
                f"{len(unknown)} exported rows not in the ground truth",
                (missing + twice + early + unknown),
            )
        )
    else:
        out.append(ok("clicks exported exactly once", f"{len(due)} clicks before {watermark.isoformat()}"))
    out.append(
        violated("nothing hostile exported", f"{len(hostile_rows)} hostile rows exported", hostile_rows)
        if hostile_rows
        else ok("nothing hostile exported", f"{sum(1 for c in world.clicks if c.hostile)} hostile writes so far")
    )
    return out


def engine_interactions(engine_state: Path, dataset_arn: str) -> Counter[Key] | None:
    """The rows the local engine holds in the interactions dataset (its pickled frame), as keys."""
    path = engine_state / "data" / (hashlib.sha1(dataset_arn.encode()).hexdigest() + ".pkl")
    if not path.exists():
        return Counter()
    try:
        with open(path, "rb") as handle:
            frame = pickle.load(handle)
    except Exception:
        return None
    cols = {c.upper(): c for c in frame.columns}
    need = ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE")
    if not all(n in cols for n in need):
        return None
    rows = zip(*(frame[cols[n]].tolist() for n in need), strict=True)
    return Counter((str(u), str(i), int(t), str(e)) for u, i, t, e in rows)


def check_import(settings: Settings, exports: Exports, engine_state: Path) -> list[Check]:
    """Every exported click imported exactly once into the engine, except those of days the stage holds."""
    from shared.personalize.held import HeldDays
    from shared.personalize.stage import ensure_datasets

    name = "clicks imported exactly once"
    deps = wiring.stage_deps(settings)
    arn = ensure_datasets(deps).by_type.get("interactions")
    if arn is None:
        return [not_checked(name, "no interactions dataset yet")]
    imported = engine_interactions(engine_state, arn)
    if imported is None:
        return [not_checked(name, "the engine's dataset file could not be read")]
    held_days, _problems = HeldDays(deps.bucket, settings.aws_stage.state_prefix).days()
    held_keys = {d.manifest_key for d in held_days}
    exported = exports.counts()
    held_rows = exports.rows_of(held_keys)
    twice = [k for k, n in imported.items() if n > 1]
    missing = [k for k in exported if imported[k] == 0 and held_rows[k] == 0]
    extra = [k for k in imported if exported[k] == 0]
    if twice or missing or extra:
        return [
            violated(
                name,
                f"{len(missing)} exported but not imported (not held), {len(twice)} imported twice, "
                f"{len(extra)} imported but never exported",
                twice + missing + extra,
            )
        ]
    return [
        ok(
            name,
            f"{sum(imported.values())} rows in the engine; "
            f"{sum(held_rows.values())} rows held in {len(held_keys)} day(s)",
        )
    ]


def check_served(settings: Settings, operator_deployed: set[str]) -> list[Check]:
    """The serving version was promoted by a recorded decision with valid metrics (or deployed by the
    simulated operator when nothing served, as the decision's promote command says)."""
    from shared.personalize.stage import campaign_arn

    name = "served version valid and not worse"
    deps = wiring.stage_deps(settings)
    arn = campaign_arn(deps)
    if arn is None:
        return [ok(name, "nothing serves yet")]
    serving = deps.personalize.describe_campaign(arn).solution_version_arn
    if serving in operator_deployed:
        return [ok(name, f"{serving.rsplit('/', 1)[-1]} deployed by the operator while nothing served")]
    decision = deps.state.decision_for(serving)
    if decision is None:
        return [violated(name, "a version serves without a recorded decision", [serving])]
    if decision.get("action") != "promote" or decision.get("invalid"):
        why = f"serving version was decided {decision.get('action')!r}, invalid {decision.get('invalid')}"
        return [violated(name, why, [serving])]
    metric = settings.aws_stage.primary_metric
    metrics = decision.get("metrics") or {}
    mine, theirs = (metrics.get("candidate") or {}).get(metric), (metrics.get("serving") or {}).get(metric)
    if not isinstance(mine, int | float) or mine != mine:  # missing or NaN: never a valid promotion
        return [violated(name, f"the serving version's {metric} is {mine!r}", [serving])]
    if isinstance(theirs, int | float) and mine < theirs:
        return [violated(name, f"{metric} {mine:.4f} lost to the version it replaced ({theirs:.4f})", [serving])]
    return [ok(name, f"{serving.rsplit('/', 1)[-1]}: {'; '.join(decision.get('reasons', []))}")]


def check_feeds(
    world: World, fill_at: datetime, fill: dict[str, Any] | None, engine_fault: bool, active_days: int
) -> list[Check]:
    """Right after the fill: each active reader (a click in the product's active window) has a feed from this
    fill, or their previous one marked stale by this fill while the fill alerted (the product's documented
    degraded mode: never silently stale; not while no campaign exists, when every reader gets a popular feed);
    no feed holds a story deleted, or read by its reader, before it was generated."""
    from shared.recommend.document import feed_story_ids

    if fill is None:
        return [not_checked("active readers have a fresh feed", "the feed fill did not run")]
    window = fill_at - timedelta(days=active_days)
    active = {c.uid for c in world.clicks if accepted(c) and c.created >= window and c.uid in world.readers}
    collection = world.firestore.collection(world.settings.collections.feeds)
    feeds: dict[str, dict[str, Any]] = {}
    uids = sorted(world.readers)
    for start in range(0, len(uids), 300):
        refs = [collection.document(u) for u in uids[start : start + 300]]
        feeds.update({s.id: s.to_dict() or {} for s in world.firestore.get_all(refs) if s.exists})
    since = fill_at - timedelta(hours=1)
    stale, marked = [], []
    for uid in sorted(active):
        feed = feeds.get(uid) or {}
        generated, stale_since = feed.get("generatedAt"), feed.get("staleSince")
        if generated is not None and generated >= since:
            continue
        degraded = fill.get("alerted") and not fill.get("no_campaign")  # no campaign yet: everyone is filled
        if feed.get("stale") and stale_since is not None and stale_since >= since and degraded:
            marked.append(uid)  # the documented degraded mode: kept, marked stale by this run, operators alerted
            continue
        stale.append((uid, generated, feed.get("stale"), stale_since))
    # no campaign yet is not a failure: the fill gives everyone a fresh popular feed, so a stale one is a violation
    why = " (the engine was down)" if engine_fault else ""
    recent: dict[str, list[Any]] = {}  # each reader's accepted clicks in the window (one pass, not one per feed)
    for c in world.clicks:
        if c.uid in feeds and c.created >= window and accepted(c):
            recent.setdefault(c.uid, []).append(c)
    deleted, read = [], []
    for uid, feed in feeds.items():
        generated = feed.get("generatedAt")
        ids = feed_story_ids(feed)
        deleted += [(uid, s) for s in ids if s in world.retired and generated and world.retired[s] <= generated]
        done = {c.sid for c in recent.get(uid, ()) if generated and c.created < generated}
        read += [(uid, s) for s in ids if s in done]
    return [
        violated("active readers have a fresh feed", f"{len(stale)} of {len(active)} active readers", stale)
        if stale
        else ok(
            "active readers have a fresh feed",
            f"{len(active)} active readers: {len(active) - len(marked)} filled by this run, {len(marked)} kept and "
            f"marked stale with an alert{why if marked else ''}",
        ),
        violated("no deleted story in a feed", f"{len(deleted)} feed entries", deleted)
        if deleted
        else ok("no deleted story in a feed"),
        violated("no already-read story in a feed", f"{len(read)} feed entries", read)
        if read
        else ok("no already-read story in a feed"),
    ]


def read_docs(world: World, collection: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The documents of ``collection`` with ``ids`` that exist (a few round trips)."""
    ids, ref = sorted(set(ids)), world.firestore.collection(collection)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 300):
        refs = [ref.document(i) for i in ids[start : start + 300]]
        found.update({s.id: s.to_dict() or {} for s in world.firestore.get_all(refs) if s.exists})
    return found


def catalogue_check(
    world: World,
    items: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    stories: Iterable[str] | None = None,
    readers: Iterable[str] | None = None,
) -> list[Check]:
    """Each story published (live) has an active ``ml_items`` record, each one retired a tombstone (``active``
    false); the same for readers who joined or left in ``ml_users`` (``stories`` / ``readers``: the ids to check,
    default every one the world knows). Their triggers' retries must have delivered each change."""
    name = "stories and readers captured"
    stories = sorted(stories if stories is not None else [*world.stories, *world.retired])
    readers = sorted(readers if readers is not None else [*world.readers, *world.left])
    wrong: list[tuple[str, str, str]] = []
    for kind, ids, live, docs in (
        ("story", stories, world.stories, items),
        ("reader", readers, world.readers, users),
    ):
        for doc_id in ids:
            doc = docs.get(doc_id)
            if doc is None:
                wrong.append((kind, doc_id, "missing"))
            elif doc_id in live and doc.get("active") is False:
                wrong.append((kind, doc_id, "live but a tombstone"))
            elif doc_id not in live and doc.get("active") is not False:
                wrong.append((kind, doc_id, "left but active" if kind == "reader" else "retired but active"))
    if wrong:
        return [violated(name, f"{len(wrong)} of {len(stories)} stories and {len(readers)} readers", wrong)]
    return [ok(name, f"{len(stories)} stories and {len(readers)} readers changed")]


def check_catalogue(world: World, stories: list[str], readers: list[str]) -> list[Check]:
    """:func:`catalogue_check` of the given changes, read from ``ml_items`` and ``ml_users``."""
    c = world.settings.collections
    items, users = read_docs(world, c.ml_items, stories), read_docs(world, c.ml_users, readers)
    return catalogue_check(world, items, users, stories, readers)


def first_feed_check(joined: list[str], feeds: dict[str, dict[str, Any]]) -> list[Check]:
    """Every reader who joined has a feed right after the new-user trigger ran (its retry included)."""
    name = "new readers have a first feed"
    missing = [uid for uid in joined if uid not in feeds]
    if missing:
        return [violated(name, f"{len(missing)} of {len(joined)} new readers have no feed", missing)]
    return [ok(name, f"{len(joined)} new readers")]


def check_first_feeds(world: World, joined: list[str]) -> list[Check]:
    return first_feed_check(joined, read_docs(world, world.settings.collections.feeds, joined))


def summarize(checks: list[Check]) -> tuple[int, int]:
    return sum(c.status == "violated" for c in checks), sum(c.status == "not checked" for c in checks)
