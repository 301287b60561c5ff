"""A public release of the interaction data: pseudonymous, coarsened, thinned, or refused.

The input is what the daily export already wrote (the backup bucket, or a local copy of it laid out
the same way: the manifests of :mod:`shared.manifest` naming each dataset's CSV parts). Interactions are the
union of every export's INCREMENTAL parts; items are the newest FULL snapshot. The release:

- replaces every USER_ID by ``HMAC-SHA256(key, uid)`` (hex, first 32 characters): stable across
  releases made with the same key, unlinkable to the uid without it. The key is never written;
- floors TIMESTAMP to the day or hour (``time_grain``);
- drops every textual column (free text: SUMMARY) and the users dataset (language and country are
  quasi-identifiers with nothing to add to a click dataset);
- removes users with fewer than ``min_events_per_user`` events;
- refuses, writing nothing, when fewer than ``min_users`` users remain.

Each part is downloaded once to a temporary folder (deleted at the end) and checked against the sha256
its manifest records before it is read. The release is
written to a temporary folder beside ``out_dir`` and renamed into place at the end, so a failure
leaves no partial release.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from shared.errors import StoryrecError
from shared.manifest import BadManifest, ExportReader, Manifest, ManifestFile, manifests_prefix, read_manifests
from shared.schema import DatasetType, load_schema

TimeGrain = Literal["day", "hour"]
GRAIN_SECONDS: dict[str, int] = {"day": 86_400, "hour": 3_600}
PSEUDONYM_LENGTH = 32
_CHUNK_ROWS = 500_000


class PublishRefused(StoryrecError):
    """The release would not be safe (too few users) or its input is unusable; nothing was written."""


@dataclass(frozen=True)
class PublishOptions:
    """How to anonymise. ``key`` is the HMAC secret: passed in, never stored."""

    key: bytes = field(repr=False)
    min_users: int = 1000
    min_events_per_user: int = 5
    time_grain: TimeGrain = "day"

    def __post_init__(self) -> None:
        if len(self.key) < 32:
            raise ValueError("the pseudonymisation key must be at least 32 bytes")
        if self.time_grain not in GRAIN_SECONDS:
            raise ValueError(f"time_grain must be one of {sorted(GRAIN_SECONDS)}")


@dataclass(frozen=True)
class PublishResult:
    """What was released."""

    out_dir: Path
    users: int
    interactions: int
    items: int
    users_removed: int
    interactions_removed: int
    exports: tuple[str, ...]
    files: dict[str, str]
    """File name → sha256."""


def pseudonym(key: bytes, user_id: str) -> str:
    """The published id of ``user_id``: keyed, so nobody without the key can recompute or reverse it."""
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]


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


def _public_columns(dataset: DatasetType) -> list[str]:
    return [c.name for c in load_schema(dataset).columns if not c.textual]


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
        counts = _events_per_user(local, interaction_parts)
        kept = counts[counts >= options.min_events_per_user]
        if len(kept) < options.min_users:
            raise PublishRefused(
                f"only {len(kept)} users have at least {options.min_events_per_user} events "
                f"(of {len(counts)}); a release needs at least {options.min_users}"
            )
        names = {uid: pseudonym(options.key, str(uid)) for uid in kept.index}

        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        try:
            rows = _write_interactions(local, interaction_parts, names, options, staging / "interactions.csv")
            items = _write_items(local, item_parts, staging / "items.csv")
            files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(staging.iterdir())}
            result = PublishResult(
                out_dir=out_dir,
                users=len(kept),
                interactions=rows,
                items=items,
                users_removed=len(counts) - len(kept),
                interactions_removed=int(counts.sum()) - rows,
                exports=tuple(m.day.isoformat() for m in manifests),
                files=files,
            )
            (staging / "release.json").write_text(_release_json(result, options), encoding="utf-8")
            (staging / "README.md").write_text(_readme(result, options), encoding="utf-8")
            if out_dir.exists():
                out_dir.rmdir()
            os.replace(staging, out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return result


def _events_per_user(local: dict[str, Path], parts: list[ManifestFile]) -> pd.Series:
    counts = pd.Series(dtype="int64")
    for part in parts:
        for chunk in _chunks(part.key, local[part.key], ["USER_ID"]):
            counts = counts.add(chunk["USER_ID"].value_counts(), fill_value=0)
    return counts


def _write_interactions(
    local: dict[str, Path], parts: list[ManifestFile], names: dict[str, str], options: PublishOptions, path: Path
) -> int:
    columns = _public_columns("interactions")
    grain = GRAIN_SECONDS[options.time_grain]
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(columns) + "\n")
        for part in parts:
            for chunk in _chunks(part.key, local[part.key], columns):
                chunk = chunk[chunk["USER_ID"].isin(names.keys())]
                chunk = chunk.assign(
                    USER_ID=chunk["USER_ID"].map(names),
                    TIMESTAMP=pd.to_numeric(chunk["TIMESTAMP"]) // grain * grain,
                )
                chunk[columns].to_csv(fh, header=False, index=False, lineterminator="\n")
                rows += len(chunk)
    return rows


def _write_items(local: dict[str, Path], parts: list[ManifestFile], path: Path) -> int:
    columns = _public_columns("items")
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(columns) + "\n")
        for part in parts:
            for chunk in _chunks(part.key, local[part.key], columns):
                chunk[columns].to_csv(fh, header=False, index=False, lineterminator="\n")
                rows += len(chunk)
    return rows


def _release_json(result: PublishResult, options: PublishOptions) -> str:
    body = {
        "users": result.users,
        "interactions": result.interactions,
        "items": result.items,
        "users_removed": result.users_removed,
        "interactions_removed": result.interactions_removed,
        "min_events_per_user": options.min_events_per_user,
        "min_users": options.min_users,
        "time_grain": options.time_grain,
        "pseudonym": f"HMAC-SHA256(secret key, uid), hex, first {PSEUDONYM_LENGTH} characters",
        "exports": list(result.exports),
        "files": result.files,
    }
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def _readme(result: PublishResult, options: PublishOptions) -> str:
    first, last = result.exports[0], result.exports[-1]
    return f"""# storyrec interactions: public release

News-story clicks from {first} to {last}: {result.interactions:,} interactions by {result.users:,} users
on {result.items:,} stories, in Amazon Personalize's bulk CSV format.

- `interactions.csv`: {", ".join(_public_columns("interactions"))}. EVENT_TYPE is one of open, read,
  comment, like, save; EVENT_VALUE is the seconds read (read events).
- `items.csv`: {", ".join(_public_columns("items"))}.

How it was anonymised:
- user ids are pseudonyms (a keyed hash; the key is secret and not part of this release);
- timestamps are rounded down to the {options.time_grain};
- free text (story summaries) and user attributes are left out;
- users with fewer than {options.min_events_per_user} events were removed ({result.users_removed:,} users,
  {result.interactions_removed:,} interactions).

`release.json` lists the counts, settings and each file's sha256.
"""
