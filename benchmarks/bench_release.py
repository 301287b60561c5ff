"""Risk and utility of `storyrec publish-dataset` settings, on Deskdrop and on generated traffic.

For each setting the release is made by the real code path: the data is laid out as the daily export
writes it (a local copy of the backup bucket: CSV parts plus a manifest with sha256), and
``shared.publish.publish_dataset`` measures, refuses or writes. The table shows the singled-out share
for k = 1, 2, 3, 5 known reads (with the released time, and items only), whether the release was
written, and the utility ratio (release ÷ original recall@10 on the same held-out reads) of
popularity, item-kNN (both measured by the release itself) and ALS (``implicit``, here only: the
``engine`` extra). Run from the repo root:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_release.py --deskdrop ../shared/data/deskdrop
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_release.py --traffic-users 1500
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from bench_quality import DESKDROP, load_deskdrop
from threadpoolctl import threadpool_limits

from infra.local.traffic import TrafficConfig, build_catalogue, interaction_chunks, interactions_frame, items_frame
from shared.adapters.folder import FolderExport
from shared.manifest import Manifest, ManifestDataset, ManifestFile, manifest_key, part_key, serialize_manifest
from shared.publish import PublishOptions, PublishRefused, anonymise_events, publish_dataset, subsample_seed
from shared.release import risk, transforms, utility
from shared.release.transforms import Event
from shared.schema import load_schema

KEY = b"benchmark-key-not-a-secret-0123456789"
SETTINGS: dict[str, dict[str, object]] = {
    "before (day, nothing else)": {
        "time_grain": "day",
        "min_item_readers": 0,
        "max_items_per_user": None,
        "anonymity_m": 0,
    },
    "week, ≥20 readers, cap 10, no anonymity": {"anonymity_m": 0},
    "order, ≥10 readers, cap 8": {
        "time_grain": "order",
        "min_item_readers": 10,
        "max_items_per_user": 8,
        "anonymity_m": 0,
    },
    "week, ≥10 readers, cap 20": {"min_item_readers": 10, "max_items_per_user": 20, "anonymity_m": 0},
    "default: week, ≥20 readers, cap 10, (2, 3)-anonymity": {},
    "week, ≥10 readers, cap 20, (2, 3)-anonymity": {"min_item_readers": 10, "max_items_per_user": 20},
}


def write_export(interactions: pd.DataFrame, items: pd.DataFrame, folder: Path) -> None:
    """``interactions`` and ``items`` as one export run in ``folder`` (backup bucket layout)."""
    day = datetime.fromtimestamp(int(interactions["TIMESTAMP"].max()), UTC).date()
    datasets = []
    for name, frame, mode in (("interactions", interactions, "INCREMENTAL"), ("items", items, "FULL")):
        columns = [c.name for c in load_schema(name).columns]
        frame = frame.reindex(columns=columns, fill_value="")
        key = part_key("", name, day, 0)
        data = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(data)
        part = ManifestFile(key, len(frame), len(data), hashlib.sha256(data).hexdigest())
        datasets.append(ManifestDataset(name, mode, "1", tuple(columns), (part,)))  # type: ignore[arg-type]
    manifest = Manifest(run_id="benchmark", day=day, datasets=tuple(datasets))
    (folder / manifest_key("", day)).parent.mkdir(parents=True, exist_ok=True)
    (folder / manifest_key("", day)).write_bytes(serialize_manifest(manifest))


def traffic(users: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generated traffic with Deskdrop's shape (its generator's defaults), ``users`` readers over 60 days."""
    config = TrafficConfig(seed=26, users=users, stories=3_000, interactions=users * 38, days=60)
    catalogue = build_catalogue(config)
    frames = [interactions_frame(chunk, catalogue) for chunk in interaction_chunks(config, catalogue)]
    return pd.concat(frames, ignore_index=True), items_frame(config, catalogue)


def als(train: utility.Histories) -> Callable[[str, int], list[str]]:
    """Plain implicit ALS (64 factors, 15 sweeps), seen stories excluded; popularity for unknown users."""
    from implicit.cpu.als import AlternatingLeastSquares

    users, items = sorted(train), sorted({i for h in train.values() for i in h})
    u_at, i_at = {u: n for n, u in enumerate(users)}, {i: n for n, i in enumerate(items)}
    pairs = [(u_at[u], i_at[i]) for u, h in train.items() for i in h]
    rows, cols = zip(*pairs, strict=True)
    matrix = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=64, regularization=0.05, iterations=15, random_state=7)
        model.fit(matrix, show_progress=False)
    fallback = utility.popularity(train)

    def recommend(user: str, n: int) -> list[str]:
        if user not in u_at:
            return fallback(user, n)
        ids, _ = model.recommend(u_at[user], matrix[u_at[user]], N=n, filter_already_liked_items=True)
        return [items[i] for i in ids]

    return recommend


def events_of(interactions: pd.DataFrame) -> list[Event]:
    """The rows as the publisher reads them."""
    return [
        Event(str(u), str(i), int(t), n)
        for n, (u, i, t) in enumerate(interactions[["USER_ID", "ITEM_ID", "TIMESTAMP"]].itertuples(index=False))
    ]


def run(name: str, interactions: pd.DataFrame, items: pd.DataFrame, settings: Sequence[str]) -> list[dict[str, object]]:
    """One row per setting: risk figures, refusal, and utility ratios."""
    events = events_of(interactions)
    eligible = transforms.drop_thin_users(events, 5)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        write_export(interactions, items, Path(tmp) / "bucket")
        for label in settings:
            options = PublishOptions(key=KEY, min_users=100, epsilon=None, **SETTINGS[label])  # type: ignore[arg-type]
            measured = PublishOptions(**{**options.__dict__, "max_singled_out": 1.0})
            result = publish_dataset(FolderExport(Path(tmp) / "bucket"), Path(tmp) / label, measured)
            try:
                publish_dataset(FolderExport(Path(tmp) / "bucket"), Path(tmp) / f"{label}-default", options)
                verdict = "written"
            except PublishRefused:
                verdict = "refused"
            released = transforms.apply(events, options.transform_settings(), subsample_seed(KEY))
            if options.anonymity_m:
                released = anonymise_events(released, options)
            als_figure = utility.measure(eligible, released, models={"als": als})[0]
            line: dict[str, object] = {
                "data": name,
                "setting": label,
                "users": result.users,
                "interactions": result.interactions,
                "verdict at 5 %": verdict,
                "risk": {_label(f): round(f.singled_out, 3) for f in result.risk.figures},
                "utility": {u.model: round(u.ratio, 2) for u in (*result.utility, als_figure)},
                "recall_original": {u.model: round(u.original, 4) for u in (*result.utility, als_figure)},
            }
            print(json.dumps(line, ensure_ascii=False), flush=True)
            lines.append(line)
    return lines


def _label(figure: risk.RiskFigure) -> str:
    """T3: k = 3 with time; I3: items only; a trailing R: the attacker knows which reads were kept."""
    return f"{'T' if figure.with_time else 'I'}{figure.k}{'R' if figure.knowledge == 'release' else ''}"


def table(lines: list[dict[str, object]]) -> str:
    """Markdown: one row per data set and setting."""
    risk = "k=1 | k=2 | k=3 | k=5 | k=3, no time | k=3, knows kept reads"
    head = f"| data | setting | users | rows | {risk} | at 5 % | popularity | item-kNN | ALS |"
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for line in lines:
        r, u = line["risk"], line["utility"]
        assert isinstance(r, dict) and isinstance(u, dict)
        cells = [line["data"], line["setting"], f"{line['users']:,}", f"{line['interactions']:,}"]
        cells += [f"{r[f'T{k}']:.1%}" for k in (1, 2, 3, 5)] + [
            f"{r['I3']:.1%}",
            f"{r['T3R']:.1%}",
            line["verdict at 5 %"],
        ]
        cells += [f"{u[m]:.2f}" for m in ("popularity", "item_knn", "als")]
        out.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deskdrop", type=Path, default=None, help=f"Deskdrop folder (default {DESKDROP} if present)")
    parser.add_argument("--traffic-users", type=int, default=0, help="Also measure generated traffic of N users.")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    lines = []
    root = args.deskdrop or (DESKDROP if DESKDROP.exists() else None)
    if root:
        interactions, items = load_deskdrop(root)
        lines += run("Deskdrop", interactions, items, args.settings)
    if args.traffic_users:
        interactions, items = traffic(args.traffic_users)
        lines += run(f"generated, {args.traffic_users:,} users", interactions, items, args.settings)
    print(table(lines))


if __name__ == "__main__":
    main()
