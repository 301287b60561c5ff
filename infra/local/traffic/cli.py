"""``python -m infra.local.traffic``: write generated traffic to a folder."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import infra.local.traffic as package
from infra.local.traffic.config import TrafficConfig
from infra.local.traffic.documents import click_documents, story_documents, user_documents
from infra.local.traffic.generate import build_catalogue
from infra.local.traffic.personalize_csv import write_personalize_csvs


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.local.traffic``: write generated traffic to a folder."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.traffic", description=(package.__doc__ or "").split("\n\n", 1)[0]
    )
    defaults = TrafficConfig()
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--stories", type=int, default=defaults.stories)
    parser.add_argument("--interactions", type=int, default=defaults.interactions)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=defaults.start,
        help="ISO start of the period (UTC if no offset)",
    )
    parser.add_argument(
        "--documents",
        action="store_true",
        help="also write stories/users/clicks documents as JSON lines (Firestore shape)",
    )
    args = parser.parse_args(argv)
    start = args.start if args.start.tzinfo else args.start.replace(tzinfo=UTC)
    config = TrafficConfig(
        seed=args.seed,
        users=args.users,
        stories=args.stories,
        interactions=args.interactions,
        days=args.days,
        start=start,
    )
    began = time.perf_counter()
    rows = write_personalize_csvs(config, args.out)
    if args.documents:
        catalogue = build_catalogue(config)
        for name, writes in (
            ("stories", story_documents(config, catalogue)),
            ("users", user_documents(catalogue)),
            ("clicks", click_documents(config, catalogue)),
        ):
            with open(args.out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
                for w in writes:
                    fh.write(json.dumps({"path": w.path, "data": _jsonable(w.data)}) + "\n")
    print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - began, 2), "out": str(args.out)}))
    return 0
