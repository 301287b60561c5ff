"""``storyrec recommend --user UID`` and ``storyrec feeds refresh [--user UID ...]``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from shared.cli.common import (
    EXIT_FAILED,
    EXIT_UNKNOWN_USER,
    Json,
    OperatorGroup,
    console,
    fail,
    load_settings,
    print_json,
)
from shared.errors import StoryrecError
from shared.operate.recommend import UserRecommendations, recommend_for
from shared.personalize.model import ResourceNotFound
from shared.recommend.feeds import fill_feeds, refresh_user
from shared.recommend.wiring import feed_deps

feeds_app = typer.Typer(
    cls=OperatorGroup, help="The users' feeds (feeds/{uid} in Firestore).", no_args_is_help=True, rich_markup_mode=None
)
User = Annotated[str, typer.Option("--user", "-u", help="The user's id (Firebase uid).")]
Users = Annotated[
    list[str] | None, typer.Option("--user", "-u", help="Only this user (repeatable). Default: every active user.")
]
Count = Annotated[
    int | None, typer.Option("--n", min=1, max=500, help="How many. Default: STORYREC_PERSONALIZE_NUM_RESULTS.")
]


def recommend(user: User, n: Count = None, json_: Json = False) -> None:
    """What the campaign recommends to one user now (with the feed's filter), beside their newest reads.

    Read-only: nothing is written. Exit codes: 0 answered, 1 Personalize failed (no campaign yet,
    unreachable), 2 configuration, 3 unknown user (no ml_users document, no interaction: the answer is
    the popular list, with a warning).
    """
    settings = load_settings()
    try:
        result = recommend_for(feed_deps(settings), user, n)
    except ResourceNotFound as exc:
        fail(f"recommend failed: {exc}: train and promote a version first (`storyrec train`, `storyrec promote`)")
    except StoryrecError as exc:
        fail(f"recommend failed: {exc}", EXIT_FAILED)
    if json_:
        print_json(asdict(result))
    else:
        _print(user, result)
    if not result.known:
        console.print(
            f"warning: unknown user {user!r} (no {settings.collections.ml_users} document, no interaction): "
            "Personalize answered with popular stories",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_UNKNOWN_USER)


def _print(user: str, result: UserRecommendations) -> None:
    from rich.table import Table

    table = Table(title=f"{user}: serving {result.solution_version_arn.rsplit('/', 1)[-1]}", title_justify="left")
    for column in ("#", "recent reads", "", "recommended now", ""):
        table.add_column(column)
    for k in range(max(len(result.recent), len(result.recommended))):
        read = result.recent[k] if k < len(result.recent) else None
        rec = result.recommended[k] if k < len(result.recommended) else None
        table.add_row(
            str(k + 1),
            (read.title or read.story_id) if read else "",
            read.detail if read else "",
            (rec.title or rec.story_id) if rec else "",
            rec.detail if rec else "",
        )
    console.print(table)


@feeds_app.command("refresh")
def refresh(users: Users = None, json_: Json = False) -> None:
    """Refresh feeds now: one user's (like the app's refresh call) or every active user's (the daily fill).

    A user whose recommendation fails keeps their previous feed, marked stale. Exit codes: 0 every feed
    fresh, 1 some feed stale or missing (or the fill failed), 2 configuration.
    """
    settings = load_settings()
    deps = feed_deps(settings)
    try:
        if users and len(users) == 1:
            one = refresh_user(deps, users[0])
            body = asdict(one)
            bad = one.stale or one.kind not in ("personalized", "popular")
        else:
            with console.status("filling feeds", spinner="dots"):
                summary = fill_feeds(deps, users=users)
            body = summary.as_dict()
            bad = bool(summary.stale or summary.missing)
    except StoryrecError as exc:
        fail(f"feed refresh failed: {exc}", EXIT_FAILED)
    if json_:
        print_json(body)
    else:
        for key, value in body.items():
            console.print(f"{key:<22} {value}", markup=False)
    if bad:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add ``recommend`` and ``feeds refresh`` to the operator CLI."""
    app.command("recommend")(recommend)
    app.add_typer(feeds_app, name="feeds")
