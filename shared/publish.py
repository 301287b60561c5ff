"""A public release of the interaction data: pseudonymous, coarsened, thinned, measured, or refused.

The input is what the daily export already wrote (the backup bucket, or a local copy of it laid out
the same way: the manifests of :mod:`shared.manifest` naming each dataset's CSV parts). Interactions are the
union of every export's INCREMENTAL parts; items are the newest FULL snapshot. The release:

- replaces every USER_ID by ``HMAC-SHA256(key, uid)`` (hex, first 32 characters): stable across
  releases made with the same key, unlinkable to the uid without it. The key is never written;
- coarsens TIMESTAMP to the hour, day or week, or replaces it by the order within the user (``time_grain``);
- drops every textual column (free text: SUMMARY) and the users dataset (language and country are
  quasi-identifiers with nothing to add to a click dataset);
- removes users with fewer than ``min_events_per_user`` events, caps long histories to a random
  ``max_items_per_user`` stories and suppresses stories with fewer than ``min_item_readers`` readers
  (:mod:`shared.release.transforms`), then suppresses points until no ``anonymity_m`` of them single
  anyone out (:mod:`shared.release.anonymity`);
- measures the re-identification risk of what it would write (:mod:`shared.release.risk`) and refuses,
  writing nothing, above ``max_singled_out`` for ``risk_k`` known events, or when fewer than
  ``min_users`` users remain;
- measures the utility kept (:mod:`shared.release.utility`), adds DP story counts when ``epsilon`` is
  set (:mod:`shared.release.dp`) and writes a datasheet (:mod:`shared.release.datasheet`).

Every interaction is held in memory (the risk measure needs whole histories): about 200 bytes a row.

Each part is downloaded once to a temporary folder (deleted at the end) and checked against the sha256
its manifest records before it is read. The release is
written to a temporary folder beside ``out_dir`` and renamed into place at the end, so a failure
leaves no partial release.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from shared.errors import StoryrecError
from shared.manifest import BadManifest, ExportReader, Manifest, ManifestFile, manifests_prefix, read_manifests
from shared.release import anonymity, datasheet, dp, risk, transforms, utility
from shared.release.transforms import TIME_GRAINS, Event, TimeGrain, TransformSettings
from shared.schema import DatasetType, load_schema

PSEUDONYM_LENGTH = 32
_CHUNK_ROWS = 500_000


class PublishRefused(StoryrecError):
    """The release would not be safe (too few users, too identifying) or its input is unusable; nothing was written."""


@dataclass(frozen=True)
class PublishOptions:
    """How to anonymise, and when to refuse. ``key`` is the HMAC secret: passed in, never stored.

    The defaults bring the k = 3 singled-out share of Deskdrop-shaped data to 0 %, also for an attacker who
    knows which reads were kept, and keep more than 1,000 of its users (docs/release.md).
    """

    key: bytes = field(repr=False)
    min_users: int = 1000
    min_events_per_user: int = 5
    time_grain: TimeGrain = "week"
    min_item_readers: int = 20
    max_items_per_user: int | None = 10
    max_singled_out: float = 0.05
    """Refuse when the attacker knowing ``risk_k`` events singles out a larger share (either attacker)."""
    risk_k: int = 3
    group_size: int = 2
    anonymity_m: int = 3
    """When > 0, suppress points until every ``anonymity_m`` released (story, time) points that a user has are
    shared by ``group_size`` users: (g, m)-anonymity, which also holds against an attacker who knows which
    reads were kept (:mod:`shared.release.anonymity`). 0: off."""
    epsilon: float | None = 1.0
    """ε of the DP story counts (item_counts.csv); ``None`` leaves the file out. Needs a history cap."""
    measure_utility: bool = True
    licence: str = "CC BY-NC 4.0"

    def __post_init__(self) -> None:
        if len(self.key) < 32:
            raise ValueError("the pseudonymisation key must be at least 32 bytes")
        if self.time_grain not in TIME_GRAINS:
            raise ValueError(f"time_grain must be one of {', '.join(TIME_GRAINS)}")
        if not 0 <= self.max_singled_out <= 1 or self.risk_k < 1 or self.group_size < 2 or self.anonymity_m < 0:
            raise ValueError("max_singled_out must be in [0, 1], risk_k ≥ 1, group_size ≥ 2 and anonymity_m ≥ 0")
        if self.epsilon is not None and (self.epsilon <= 0 or self.max_items_per_user is None):
            raise ValueError("epsilon must be > 0, and the DP counts need max_items_per_user (their sensitivity)")
        self.transform_settings()  # validates the rest

    def transform_settings(self) -> TransformSettings:
        """The transformation part of the options."""
        return TransformSettings(
            self.time_grain, self.min_item_readers, self.max_items_per_user, self.min_events_per_user
        )

    def public_settings(self) -> dict[str, object]:
        """Every setting but the key, as written to release.json."""
        return {k: v for k, v in asdict(self).items() if k != "key"}


@dataclass(frozen=True)
class PublishResult(datasheet.ReleaseFacts):
    """What was released: the datasheet's facts, where, and each file's sha256."""

    out_dir: Path
    files: dict[str, str]


@dataclass(frozen=True)
class _Input:
    """The interactions as read: their public columns (row i is ``Event.row == i``) and the events."""

    columns: list[str]
    rows: list[tuple[str, ...]]
    events: list[Event]


def pseudonym(key: bytes, user_id: str) -> str:
    """The published id of ``user_id``: keyed, so nobody without the key can recompute or reverse it."""
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]


def subsample_seed(key: bytes) -> int:
    """The seed of the random history cap: derived from the key, so only its holder can redo the draw."""
    return int.from_bytes(hmac.new(key, b"storyrec-release-subsample", hashlib.sha256).digest()[:8], "big")


def _parts(manifest: Manifest, dataset: str) -> list[ManifestFile]:
    found = manifest.dataset(dataset)
    files = list(found.files) if found else []
    unchecked = [f.key for f in files if not f.sha256]
    if unchecked:
        raise PublishRefused(f"the manifest of {manifest.day} records no sha256 for {unchecked[0]}: re-export it first")
    return files


def _download(source: ExportReader, parts: list[ManifestFile], folder: Path) -> dict[str, Path]:
    """Each part once, to ``folder``, checked against its manifest's sha256 (both passes read the copy)."""
    local = {}
    for index, part in enumerate(parts):
        data = source.get_bytes(part.key)
        if hashlib.sha256(data).hexdigest() != part.sha256:
            raise PublishRefused(f"{part.key} does not match the sha256 its manifest records: re-export it first")
        local[part.key] = folder / f"part-{index:06d}.csv"
        local[part.key].write_bytes(data)
    return local


def _chunks(key: str, path: Path, columns: list[str]) -> Iterator[pd.DataFrame]:
    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=columns, chunksize=_CHUNK_ROWS)
        yield from reader
    except ValueError as exc:  # missing columns, malformed CSV
        raise PublishRefused(f"{key} is not a readable export part: {exc}") from exc


_NOT_PUBLISHED = frozenset({"RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE", "IMPRESSION"})
"""Interactions columns of schema 2.0 kept out of the release: a recommendation id links a reader's events
across days and the serving arm; exports of schema 1.0 (which lack them) stay publishable."""


def _public_columns(dataset: DatasetType) -> list[str]:
    return [c.name for c in load_schema(dataset).columns if not c.textual and c.name not in _NOT_PUBLISHED]


def publish_dataset(source: ExportReader, out_dir: Path, options: PublishOptions, *, prefix: str = "") -> PublishResult:
    """Write the public release of the exports in ``source`` to ``out_dir`` (which must not exist yet)."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise PublishRefused(f"{out_dir} is not empty: a release is written to a new folder")
    try:
        manifests = read_manifests(source, prefix)
    except BadManifest as exc:
        raise PublishRefused(f"unusable export manifest: {exc}") from exc
    if not manifests:
        raise PublishRefused(f"no export manifest under {manifests_prefix(prefix)}: run an export first")
    interaction_parts = list({p.key: p for m in manifests for p in _parts(m, "interactions")}.values())
    item_parts = _parts(manifests[-1], "items")

    with tempfile.TemporaryDirectory(prefix="storyrec-publish-") as downloads:
        local = _download(source, interaction_parts + item_parts, Path(downloads))
        read = _read_interactions(local, interaction_parts)
        eligible = transforms.drop_thin_users(read.events, options.min_events_per_user)
        released, times, report = _release_or_refuse(read.events, eligible, options)
        users = {e.user for e in released}
        kept = utility.measure(eligible, released) if options.measure_utility else ()
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        try:
            _write_interactions(read, released, times, options, staging / "interactions.csv")
            items, item_ids = _write_items(local, item_parts, staging / "items.csv")
            if options.epsilon is not None:
                _write_dp_counts(eligible, item_ids, options, staging / "item_counts.csv")
            facts = datasheet.ReleaseFacts(
                users=len(users),
                interactions=len(released),
                items=items,
                users_removed=len({e.user for e in read.events}) - len(users),
                interactions_removed=len(read.events) - len(released),
                first_day=_day(min(e.timestamp for e in released)),
                last_day=_day(max(e.timestamp for e in released)),
                exports=tuple(m.day.isoformat() for m in manifests),
                settings=options.public_settings(),
                risk=report,
                utility=kept,
                licence=options.licence,
                columns={p.name: _header(p) for p in sorted(staging.iterdir())},
                epsilon=options.epsilon,
            )
            files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(staging.iterdir())}
            (staging / "release.json").write_text(datasheet.manifest_json(facts, files), encoding="utf-8")
            (staging / "README.md").write_text(datasheet.datasheet(facts), encoding="utf-8")
            if out_dir.exists():
                out_dir.rmdir()
            os.replace(staging, out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return PublishResult(**vars(facts), out_dir=out_dir, files=files)


def _release_or_refuse(
    events: Sequence[Event], eligible: Sequence[Event], options: PublishOptions
) -> tuple[list[Event], list[int], risk.RiskReport]:
    """The released events, their released times and measured risk; PublishRefused if too few or too identifying."""
    released = transforms.apply(events, options.transform_settings(), subsample_seed(options.key))
    if options.anonymity_m:
        released = anonymise_events(released, options)
    users = {e.user for e in released}
    if len(users) < options.min_users:
        raise PublishRefused(
            f"only {len(users)} users have at least {options.min_events_per_user} events and remain after the "
            f"transformations (of {len({e.user for e in events})}); a release needs {options.min_users}"
        )
    times = transforms.released_times(released, options.time_grain)
    report = _measure_risk(eligible, released, times, options)
    worst = report.worst(options.risk_k)
    if worst.singled_out > options.max_singled_out:
        raise PublishRefused(
            f"an attacker who knows {options.risk_k} of a user's reads{' and when' if worst.with_time else ''} "
            f"singles out {worst.singled_out:.1%} of the {worst.targets} users (threshold "
            f"{options.max_singled_out:.1%}): coarsen the time, cap histories or suppress more rare stories"
        )
    return released, times, report


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return fh.readline().strip().split(",")


def _read_interactions(local: dict[str, Path], parts: list[ManifestFile]) -> _Input:
    columns = _public_columns("interactions")
    rows: list[tuple[str, ...]] = []
    events: list[Event] = []
    for part in parts:
        for chunk in _chunks(part.key, local[part.key], columns):
            for values in chunk[columns].itertuples(index=False, name=None):
                row = dict(zip(columns, values, strict=True))
                try:
                    timestamp = int(row["TIMESTAMP"])
                except ValueError as exc:
                    raise PublishRefused(f"{part.key}: TIMESTAMP {row['TIMESTAMP']!r} is not an integer") from exc
                events.append(Event(row["USER_ID"], row["ITEM_ID"], timestamp, len(rows)))
                rows.append(tuple(values))
    return _Input(columns, rows, events)


def known_and_released(
    eligible: Sequence[Event], released: Sequence[Event], times: Sequence[int], grain: TimeGrain
) -> tuple[dict[str, list[risk.Point]], dict[str, set[risk.Point]]]:
    """What the attacker knows of each released user (its eligible history, at the released grain), and the release."""
    released_points: dict[str, set[risk.Point]] = {}
    for event, time in zip(released, times, strict=True):
        released_points.setdefault(event.user, set()).add((event.item, None if grain == "order" else time))
    known: dict[str, set[risk.Point]] = {}
    for event in eligible:
        if event.user in released_points:
            when = None if grain == "order" else transforms.coarse_time(event.timestamp, grain)
            known.setdefault(event.user, set()).add((event.item, when))
    return {u: sorted(points, key=repr) for u, points in known.items()}, released_points


def anonymise_events(released: Sequence[Event], options: PublishOptions) -> list[Event]:
    """The events whose released point survives (g, m)-anonymisation."""
    times = transforms.released_times(released, options.time_grain)
    _, points = known_and_released((), released, times, options.time_grain)
    kept = anonymity.anonymise(points, options.anonymity_m, options.group_size)
    return [
        event
        for event, time in zip(released, times, strict=True)
        if (event.item, None if options.time_grain == "order" else time) in kept.get(event.user, ())
    ]


def _measure_risk(
    eligible: Sequence[Event], released: Sequence[Event], times: Sequence[int], options: PublishOptions
) -> risk.RiskReport:
    """The threshold's attacker for every k, plus (reported, not thresholded) one who knows released reads."""
    known, points = known_and_released(eligible, released, times, options.time_grain)
    ks = tuple(sorted(set(risk.DEFAULT_KS) | {options.risk_k}))
    report = risk.measure_all(known, points, ks, group_size=options.group_size, draws=3)
    kept = {u: sorted(p, key=repr) for u, p in points.items()}
    informed = risk.measure_all(
        kept, points, (options.risk_k,), group_size=options.group_size, draws=3, knowledge="release"
    )
    return risk.RiskReport(options.group_size, report.figures + informed.figures)


def _write_interactions(
    read: _Input, released: Sequence[Event], times: Sequence[int], options: PublishOptions, path: Path
) -> None:
    """Released rows, pseudonymous, with their released TIMESTAMP, sorted so row order reveals nothing finer."""
    user_at, time_at = read.columns.index("USER_ID"), read.columns.index("TIMESTAMP")
    names = {user: pseudonym(options.key, user) for user in {e.user for e in released}}
    out = []
    for event, time in zip(released, times, strict=True):
        row = list(read.rows[event.row])
        row[user_at], row[time_at] = names[event.user], str(time)
        out.append(row)
    if options.time_grain == "order":
        out.sort(key=lambda r: (r[user_at], int(r[time_at])))
    else:
        out.sort(key=lambda r: (int(r[time_at]), r[user_at], r))
    frame = pd.DataFrame(out, columns=read.columns)
    frame.to_csv(path, index=False, lineterminator="\n")


def _write_dp_counts(eligible: Sequence[Event], item_ids: set[str], options: PublishOptions, path: Path) -> None:
    """Readers per catalogue story, over the capped (not suppressed) histories, with ε-DP geometric noise.

    Suppression is left out on purpose: whether a story passes it depends on other users, which would
    break the per-user sensitivity bound.
    """
    assert options.epsilon is not None and options.max_items_per_user is not None
    capped = transforms.cap_histories(eligible, options.max_items_per_user, subsample_seed(options.key))
    readers = {item: 0 for item in item_ids}
    for user_items in utility.histories(capped).values():
        for item in user_items & item_ids:
            readers[item] += 1
    noisy = dp.noisy_counts(readers, options.epsilon, options.max_items_per_user, random.SystemRandom())
    pd.DataFrame(sorted(noisy.items()), columns=["ITEM_ID", "READERS"]).to_csv(path, index=False, lineterminator="\n")


def _write_items(local: dict[str, Path], parts: list[ManifestFile], path: Path) -> tuple[int, set[str]]:
    columns = _public_columns("items")
    rows = 0
    ids: set[str] = set()
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(columns) + "\n")
        for part in parts:
            for chunk in _chunks(part.key, local[part.key], columns):
                chunk[columns].to_csv(fh, header=False, index=False, lineterminator="\n")
                rows += len(chunk)
                ids.update(chunk["ITEM_ID"])
    return rows, ids
