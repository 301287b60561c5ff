"""``storyrec publish-dataset OUT_DIR``: a measured, pseudonymous public release of the exported interactions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from shared import wiring
from shared.adapters.folder import FolderExport
from shared.config import Settings
from shared.errors import ConfigError
from shared.manifest import ExportReader
from shared.release.transforms import TIME_GRAINS

OutDir = Annotated[Path, typer.Argument(help="New folder for the release (must not exist or be empty).")]
FromDir = Annotated[
    Path | None,
    typer.Option(
        "--from-dir",
        exists=True,
        file_okay=False,
        help="A local copy of the backup bucket (same layout). Default: read the backup bucket itself.",
    ),
]
MinUsers = Annotated[
    int | None,
    typer.Option("--min-users", min=1, help="Refuse below this many users. [env STORYREC_PUBLISH_MIN_USERS]"),
]
MinEvents = Annotated[
    int | None,
    typer.Option("--min-events", min=1, help="Drop users with fewer events. [env STORYREC_PUBLISH_MIN_EVENTS]"),
]
Grain = Annotated[
    str | None,
    typer.Option(
        "--grain",
        help="Timestamps rounded down to 'hour', 'day' or 'week', or 'order' (rank within the user, no time). "
        "[env STORYREC_PUBLISH_TIME_GRAIN, default week]",
    ),
]
MinReaders = Annotated[int, typer.Option("--min-readers", min=0, help="Suppress stories with fewer readers.")]
MaxItems = Annotated[
    int, typer.Option("--max-items", min=0, help="Cap each history to a random N stories (0: no cap).")
]
MaxRisk = Annotated[
    float,
    typer.Option("--max-singled-out", min=0.0, max=1.0, help="Refuse above this singled-out share for --risk-k."),
]
AnonymityM = Annotated[
    int,
    typer.Option("--anonymity-m", min=0, help="Suppress until no M released reads single a user out (0: off)."),
]
RiskK = Annotated[int, typer.Option("--risk-k", min=1, help="Known events of the attacker the threshold is for.")]
Epsilon = Annotated[
    float, typer.Option("--epsilon", min=0.0, help="ε of the DP story counts, item_counts.csv (0: no such file).")
]
Utility = Annotated[bool, typer.Option("--utility/--no-utility", help="Measure the utility kept (recall ratio).")]
Licence = Annotated[str, typer.Option("--licence", help="The licence the datasheet states.")]


def publish_dataset(
    out_dir: OutDir,
    from_dir: FromDir = None,
    min_users: MinUsers = None,
    min_events: MinEvents = None,
    grain: Grain = None,
    min_readers: MinReaders = 20,
    max_items: MaxItems = 10,
    max_singled_out: MaxRisk = 0.05,
    risk_k: RiskK = 3,
    anonymity_m: AnonymityM = 3,
    epsilon: Epsilon = 1.0,
    utility: Utility = True,
    licence: Licence = "CC BY-NC 4.0",
) -> None:
    """Write a release whose re-identification risk is measured first, with a datasheet (docs/release.md).

    The HMAC key comes from STORYREC_PUBLISH_KEY (at least 32 characters) and is never written.
    Exit codes: 0 released, 1 refused (too identifying, too few users, unusable input; nothing written),
    2 configuration.
    """
    # pandas: +0.3 s, and only the `publish` extra installs it
    from shared.publish import PublishOptions, PublishRefused  # cold-start: pandas, see above
    from shared.publish import publish_dataset as publish  # cold-start: pandas, see above

    try:
        settings = Settings.from_env(os.environ)
        if not settings.publish.key:
            raise ConfigError("STORYREC_PUBLISH_KEY is not set: the release needs a secret key for user pseudonyms")
        chosen = grain or settings.publish.time_grain
        if chosen not in TIME_GRAINS:
            raise ConfigError(f"--grain {chosen!r} is none of {', '.join(TIME_GRAINS)}")
        options = PublishOptions(
            key=settings.publish.key.encode("utf-8"),
            min_users=min_users or settings.publish.min_users,
            min_events_per_user=min_events or settings.publish.min_events_per_user,
            time_grain=next(g for g in TIME_GRAINS if g == chosen),
            min_item_readers=min_readers,
            max_items_per_user=max_items or None,
            max_singled_out=max_singled_out,
            risk_k=risk_k,
            anonymity_m=anonymity_m,
            epsilon=epsilon or None,
            measure_utility=utility,
            licence=licence,
        )
    except (ConfigError, ValueError) as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc
    source: ExportReader = FolderExport(from_dir) if from_dir else wiring.backup_store(settings)
    try:
        result = publish(source, out_dir, options, prefix="" if from_dir else settings.import_prefix)
    except PublishRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    summary = {
        "out_dir": str(result.out_dir),
        "users": result.users,
        "interactions": result.interactions,
        "items": result.items,
        "users_removed": result.users_removed,
        "exports": [result.exports[0], result.exports[-1]],
        f"singled_out_k{risk_k}": {
            ("with_time" if f.with_time else "no_time"): f.singled_out for f in result.risk.figures if f.k == risk_k
        },
        "utility_ratio": {u.model: round(u.ratio, 3) for u in result.utility},
        "files": result.files,
    }
    typer.echo(json.dumps(summary, indent=2))


def register(app: typer.Typer) -> None:
    """Add ``publish-dataset`` to the operator CLI."""
    app.command("publish-dataset")(publish_dataset)
