"""``storyrec publish-dataset OUT_DIR``: a pseudonymous public release of the exported interactions."""

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
    typer.Option("--grain", help="Round timestamps down to 'day' or 'hour'. [env STORYREC_PUBLISH_TIME_GRAIN]"),
]


def publish_dataset(
    out_dir: OutDir,
    from_dir: FromDir = None,
    min_users: MinUsers = None,
    min_events: MinEvents = None,
    grain: Grain = None,
) -> None:
    """Write interactions and items with keyed-hash user ids, coarse timestamps and no free text.

    The HMAC key comes from STORYREC_PUBLISH_KEY (at least 32 characters) and is never written.
    Exit codes: 0 released, 1 refused (too few users, unusable input; nothing written), 2 configuration.
    """
    # pandas: +0.3 s, and only the `publish` extra installs it
    from shared.publish import PublishOptions, PublishRefused  # cold-start: pandas, see above
    from shared.publish import publish_dataset as publish  # cold-start: pandas, see above

    try:
        settings = Settings.from_env(os.environ)
        if not settings.publish.key:
            raise ConfigError("STORYREC_PUBLISH_KEY is not set: the release needs a secret key for user pseudonyms")
        chosen = grain or settings.publish.time_grain
        if chosen not in ("day", "hour"):
            raise ConfigError(f"--grain {chosen!r} is neither 'day' nor 'hour'")
        options = PublishOptions(
            key=settings.publish.key.encode("utf-8"),
            min_users=min_users or settings.publish.min_users,
            min_events_per_user=min_events or settings.publish.min_events_per_user,
            time_grain="day" if chosen == "day" else "hour",
        )
    except ConfigError as exc:
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
        "files": result.files,
    }
    typer.echo(json.dumps(summary, indent=2))


def register(app: typer.Typer) -> None:
    """Add ``publish-dataset`` to the operator CLI."""
    app.command("publish-dataset")(publish_dataset)
