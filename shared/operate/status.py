"""Every stage of the pipeline at a glance, gathered read-only (``storyrec status``, ``storyrec report``).

Each section comes from where the stage keeps it: the export's manifests (import bucket), Personalize
(import jobs, solution versions and their metrics, the campaign), the AWS stage's state in S3 (parked
imports, the deferred training, decisions, alerts), Firestore (quarantine counts, ``feeds/*``).
Nothing here creates a resource. A section whose source cannot be read is left ``None`` and the
reason is listed in ``problems``, so one dead service never hides the others.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared.capture.validation import Reason
from shared.manifest import manifest_keys, read_manifest
from shared.personalize.held import HeldDays
from shared.personalize.model import SolutionVersion
from shared.personalize.port import PersonalizePort
from shared.personalize.stage import SLOT_LABELS, StageDeps, slot_names
from shared.ports import DocumentCounter, DocumentStore, Query, Where
from shared.recommend.document import feed_story_ids
from shared.schema import DATASET_TYPES

T = TypeVar("T")
_OLDEST = datetime.min.replace(tzinfo=UTC)
RECENT_VERSIONS = 5  # of the two slots together, and of the baseline: metrics are read for these, newest first


@dataclass(frozen=True)
class ExportStatus:
    manifest_key: str
    day: str
    run_id: str
    rows: dict[str, int]
    exports_total: int


@dataclass(frozen=True)
class ImportJobStatus:
    dataset: str
    name: str
    status: str
    created: datetime | None
    failure_reason: str | None = None


@dataclass(frozen=True)
class ImportsStatus:
    pending: list[ImportJobStatus]
    failed: list[ImportJobStatus]
    last: list[ImportJobStatus]
    """The newest job of each dataset."""
    parked_manifests: list[str]
    held_delta_rows: int


@dataclass(frozen=True)
class VersionStatus:
    solution: str
    """``slot a`` or ``slot b`` (the serving solution's two slots: training alternates between them) or
    ``baseline`` (popularity count)."""
    arn: str
    status: str
    created: datetime | None
    metrics: dict[str, float] | None
    decision: str | None
    """What the promotion step decided for it (promote, hold, keep), from the history."""
    failure_reason: str | None = None


@dataclass(frozen=True)
class CampaignStatus:
    arn: str
    status: str
    solution_version_arn: str
    update_status: str | None
    update_version_arn: str | None


@dataclass(frozen=True)
class FeedsStatus:
    feeds: int
    stale: int
    by_kind: dict[str, int]
    oldest_hours: float | None
    newest_hours: float | None
    median_hours: float | None
    ages_hours: tuple[float, ...] = ()
    stale_ages_hours: tuple[float, ...] = ()
    """The ages of the feeds marked stale (kept after a failed refresh), also in ``ages_hours``."""
    story_ids: frozenset[str] = frozenset()
    by_arm: dict[str, int] = field(default_factory=dict)
    """Feeds per experiment arm (champion, challenger, control; feeds written before arms: ``-``)."""


@dataclass(frozen=True)
class AlertStatus:
    key: str
    subject: str
    sent_at: str | None = None


@dataclass
class PipelineStatus:
    generated_at: datetime
    last_export: ExportStatus | None = None
    imports: ImportsStatus | None = None
    training_request: str | None = None
    versions: list[VersionStatus] | None = None
    campaign: CampaignStatus | None = None
    feeds: FeedsStatus | None = None
    quarantine: dict[str, int] | None = None
    alerts: list[AlertStatus] | None = None
    decisions: list[dict[str, Any]] | None = None
    current_test: dict[str, Any] | None = None
    """The challenger under test (promotion mode ``online``), from the S3 state."""
    tests: list[dict[str, Any]] | None = None
    """Each online test's latest look (arms, exposure, lifts with intervals, verdict), oldest first."""
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """No unreadable source; the newest import job of each dataset, the newest version of the two slots
        (the last training) and of the baseline, and the campaign's latest update did not fail (older failures
        stay listed, not alarming)."""
        newest: dict[str, str] = {}
        for v in self.versions or []:  # newest first: the slots together, then the baseline
            newest.setdefault("baseline" if v.solution == "baseline" else "main", v.status)
        failed_version = any(status.endswith(("FAILED", "STOPPED")) for status in newest.values())
        failed_import = any(
            j.status.endswith(("FAILED", "STOPPED")) for j in (self.imports.last if self.imports else [])
        )
        failed_update = bool(self.campaign and (self.campaign.update_status or "").endswith("FAILED"))
        return not (self.problems or failed_import or failed_version or failed_update)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``--json``): every section; feeds without the per-feed lists."""
        body = asdict(self)
        if self.feeds is not None:
            body["feeds"] = {
                k: v for k, v in body["feeds"].items() if k not in ("ages_hours", "stale_ages_hours", "story_ids")
            }
        body["healthy"] = self.healthy
        return body


def _section(status: PipelineStatus, what: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except Exception as exc:  # a dead source (any SDK's error) must not hide the other sections
        status.problems.append(f"{what}: {type(exc).__name__}: {exc}")
        return None


def last_export(deps: StageDeps) -> ExportStatus | None:
    """The newest manifest in the import bucket, parsed (None before the first export)."""
    keys = manifest_keys(deps.bucket, deps.settings.import_prefix)
    if not keys:
        return None
    manifest = read_manifest(deps.bucket, keys[-1])
    rows = {d.dataset: d.rows for d in manifest.datasets}
    return ExportStatus(keys[-1], manifest.day.isoformat(), manifest.run_id, rows, len(keys))


@dataclass(frozen=True)
class ReasonCount:
    """Quarantined documents with one reason code."""

    reason: str
    count: int


def quarantine_by_reason(counter: DocumentCounter, collection: str) -> tuple[ReasonCount, ...]:
    """Quarantined documents per known reason code, plus ``other`` for codes this version does not know."""
    counts = [ReasonCount(r.value, counter.count(collection, (Where("reason", "==", r.value),))) for r in Reason]
    known = sum(c.count for c in counts)
    other = counter.count(collection) - known
    if other > 0:
        counts.append(ReasonCount("other", other))
    return tuple(c for c in counts if c.count)


def _find(port: PersonalizePort, kind: str, name: str, parent: str | None = None) -> str | None:
    return name if name.startswith("arn:") else port.find_arn(kind, name, parent)


def imports_status(deps: StageDeps) -> ImportsStatus:
    """Import jobs of the dataset group (pending, failed, the newest per dataset) and what waits in the state."""
    port = deps.personalize
    group = _find(port, "dataset_group", deps.settings.personalize.dataset_group)
    pending: list[ImportJobStatus] = []
    failed: list[ImportJobStatus] = []
    last: list[ImportJobStatus] = []
    for dataset_type in DATASET_TYPES if group else ():
        arn = port.find_arn("dataset", f"storyrec-{dataset_type}", group)
        if not arn:
            continue
        jobs = sorted(port.list_import_jobs(arn), key=lambda j: j.created or _OLDEST, reverse=True)
        rows = [ImportJobStatus(dataset_type, j.name, j.status.value, j.created, j.failure_reason) for j in jobs]
        pending += [r for r, j in zip(rows, jobs, strict=True) if j.status.pending]
        failed += [r for r, j in zip(rows, jobs, strict=True) if j.status.failed]
        last += rows[:1]
    held = sum(d.rows for d in HeldDays(deps.bucket, deps.settings.aws_stage.state_prefix).days()[0])
    return ImportsStatus(pending, failed[:10], last, deps.state.parked_imports(), held)


def versions_status(deps: StageDeps, decisions: list[dict[str, Any]]) -> list[VersionStatus]:
    """The newest versions of the serving solution's two slots (together, newest first) and of the baseline
    solution, with metrics for the ACTIVE ones."""
    port = deps.personalize
    group = _find(port, "dataset_group", deps.settings.personalize.dataset_group)
    decided = {str(d.get("candidate")): str(d.get("action")) for d in decisions}
    main: list[tuple[str, SolutionVersion]] = []
    for label, name in zip(SLOT_LABELS, slot_names(deps.settings), strict=True):
        solution = _find(port, "solution", name, group) if group or name.startswith("arn:") else None
        main += [(label, v) for v in port.list_solution_versions(solution)] if solution else []
    main.sort(key=lambda lv: lv[1].created or _OLDEST, reverse=True)
    baseline_name = deps.settings.aws_stage.baseline_solution
    baseline = _find(port, "solution", baseline_name, group) if group or baseline_name.startswith("arn:") else None
    rows = main[:RECENT_VERSIONS]
    rows += [("baseline", v) for v in port.list_solution_versions(baseline)[:RECENT_VERSIONS]] if baseline else []
    out: list[VersionStatus] = []
    for role, v in rows:
        metrics = port.solution_metrics(v.arn) if v.status.value == "ACTIVE" else None
        out.append(VersionStatus(role, v.arn, v.status.value, v.created, metrics, decided.get(v.arn), v.failure_reason))
    return out


def campaign_status(deps: StageDeps) -> CampaignStatus | None:
    """The campaign and the version it serves (None before the first promotion)."""
    arn = _find(deps.personalize, "campaign", deps.settings.personalize.campaign)
    if not arn:
        return None
    c = deps.personalize.describe_campaign(arn)
    update = c.latest_update
    return CampaignStatus(
        c.arn,
        c.status.value,
        c.solution_version_arn,
        update.status.value if update else None,
        update.solution_version_arn if update else None,
    )


def alerts_status(deps: StageDeps, limit: int = 20) -> list[AlertStatus]:
    """The newest alerts the AWS stage sent (one marker per alert key in its state), newest first."""
    return [
        AlertStatus(str(m.get("key", "")), str(m.get("subject", "")), str(m.get("sent_at") or "") or None)
        for m in deps.state.alerts(limit)
    ]


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def feeds_status(docs: Iterable[dict[str, Any]], now: datetime) -> FeedsStatus:
    """Freshness of the feeds (``generatedAt``), how many are stale, by kind, and the stories they use."""
    ages: list[float] = []
    stale_ages: list[float] = []
    kinds: dict[str, int] = {}
    arms: dict[str, int] = {}
    stale = 0
    stories: set[str] = set()
    count = 0
    for doc in docs:
        count += 1
        generated = _as_datetime(doc.get("generatedAt"))
        if generated is not None:
            if generated.tzinfo is None:
                generated = generated.replace(tzinfo=now.tzinfo)
            ages.append(max(0.0, (now - generated).total_seconds() / 3600))
            if doc.get("stale"):
                stale_ages.append(ages[-1])
        kind = str(doc.get("kind", "unknown"))
        kinds[kind] = kinds.get(kind, 0) + 1
        arm = str(doc.get("arm") or "-")
        arms[arm] = arms.get(arm, 0) + 1
        stale += bool(doc.get("stale"))
        stories.update(feed_story_ids(doc))
    return FeedsStatus(
        feeds=count,
        stale=stale,
        by_kind=kinds,
        oldest_hours=max(ages) if ages else None,
        newest_hours=min(ages) if ages else None,
        median_hours=statistics.median(ages) if ages else None,
        ages_hours=tuple(ages),
        stale_ages_hours=tuple(stale_ages),
        story_ids=frozenset(stories),
        by_arm=arms,
    )


def read_feeds(store: DocumentStore, collection: str, now: datetime) -> FeedsStatus:
    """Stream ``feeds/*`` (every feed is read: a few fields each) into a :class:`FeedsStatus`."""
    return feeds_status((s.data for s in store.stream(Query(collection))), now)


def gather_status(
    deps: StageDeps,
    *,
    docs: DocumentStore | None = None,
    counter: DocumentCounter | None = None,
    include_feeds: bool = True,
) -> PipelineStatus:
    """Read every stage's state; without ``docs``/``counter`` (Firestore) those sections stay None."""
    now = deps.clock()
    status = PipelineStatus(generated_at=now)
    status.last_export = _section(status, "export manifests (S3)", lambda: last_export(deps))
    status.imports = _section(status, "import jobs (Personalize)", lambda: imports_status(deps))
    status.training_request = _section(status, "training request (S3 state)", deps.state.training_request)
    status.decisions = _section(status, "decision history (S3 state)", deps.state.decisions)
    status.versions = _section(
        status, "solution versions (Personalize)", lambda: versions_status(deps, status.decisions or [])
    )
    status.campaign = _section(status, "campaign (Personalize)", lambda: campaign_status(deps))
    status.alerts = _section(status, "alerts (S3 state)", lambda: alerts_status(deps))
    status.current_test = _section(status, "online test (S3 state)", deps.state.current_test)
    status.tests = _section(status, "online test looks (S3 state)", deps.state.looks)
    cols = deps.settings.collections
    if counter is not None:
        reasons = _section(status, "quarantine (Firestore)", lambda: quarantine_by_reason(counter, cols.quarantine))
        status.quarantine = {r.reason: r.count for r in reasons} if reasons is not None else None
    if docs is not None and include_feeds:
        status.feeds = _section(status, "feeds (Firestore)", lambda: read_feeds(docs, cols.feeds, now))
    return status
