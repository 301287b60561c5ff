"""The reference homepage (hosting/) and the client module (client/) in Chromium against the emulators.

Each test signs readers in through the page's own form (Auth emulator), seeds what the backend would have
written (stories, feeds) with the rules bypassed, and reads back what the page wrote the same way.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.retry import wait_until
from tests.browser.conftest import Reader, World

pytestmark = pytest.mark.e2e

Open = Callable[..., Reader]


def cards(reader: Reader, section: str) -> list[str]:
    return list(reader.evaluate(f"[...document.querySelectorAll('#{section}-list .card')].map(c => c.dataset.storyId)"))


def wait_cards(reader: Reader, section: str, count: int) -> list[str]:
    reader.page.wait_for_function(
        f"document.querySelectorAll('#{section}-list .card').length === {count}", timeout=30_000
    )
    return cards(reader, section)


def written(reader: Reader, what: str) -> list[dict[str, Any]]:
    """The page's clicks or impressions once the server acknowledged or refused each (``refused``: its code)."""
    return list(
        reader.evaluate(
            f"""Promise.allSettled(window.storyrecHome.{what}.map(w => w.written)).then(outcomes =>
              window.storyrecHome.{what}.map((w, i) => ({{...w, written: undefined,
                refused: outcomes[i].status === "rejected" ? String(outcomes[i].reason?.code) : null}})))"""
        )
    )


def click_card(reader: Reader, section: str, story_id: str) -> None:
    # the card's link opens the story in a new tab; the homepage stays and records the click
    with reader.context.expect_page() as opened:
        reader.page.click(f"#{section}-list .card[data-story-id='{story_id}'] a")
    opened.value.close()


def test_a_reader_signs_in_and_sees_their_own_feed_and_the_latest_stories(world: World, open_homepage: Open) -> None:
    stories = world.stories(14)
    mine = world.feed("alice", stories[3:9])
    world.feed("bob", stories[:3])

    alice = open_homepage("alice")

    assert wait_cards(alice, "feed", 6) == stories[3:9]  # the feed's order, best first
    assert wait_cards(alice, "latest", 10) == stories[:10]  # newest first
    titles = alice.evaluate("[...document.querySelectorAll('#feed-list .card a')].map(a => a.textContent)")
    assert titles[0] == f"For alice: story {stories[3]}"
    assert alice.page.inner_text("#badges").split() == ["champion"]  # no stale or cold badge
    feed = alice.evaluate("window.storyrecHome.client.feed")
    assert feed["recommendationId"] == mine["recommendationId"] and feed["arm"] == "champion"
    assert feed["stale"] is False and feed["cold"] is False and feed["exists"] is True
    assert alice.outside == []  # the SDK came from the site itself: nothing was fetched from a CDN
    alice.screenshot("homepage-signed-in")


def test_a_reader_without_a_feed_sees_that_it_is_coming(world: World, open_homepage: Open) -> None:
    world.stories(3)
    erin = open_homepage("erin")
    erin.page.wait_for_function("document.querySelector('#feed-meta').textContent.includes('No feed yet')")
    assert cards(erin, "feed") == []


def test_another_readers_feed_cannot_be_read(world: World, open_homepage: Open) -> None:
    stories = world.stories(6)
    world.feed("alice", stories[:3])
    world.feed("bob", stories[3:])
    alice = open_homepage("alice")
    wait_cards(alice, "feed", 3)

    outcome = alice.evaluate(
        """async () => {
          const { doc, getDoc, getDocs, collection } = await import("firebase/firestore");
          const db = window.storyrecHome.db;
          const tryIt = (p) => p.then(() => "allowed", (e) => e.code);
          return {
            other: await tryIt(getDoc(doc(db, "feeds/bob"))),
            list: await tryIt(getDocs(collection(db, "feeds"))),
            own: await tryIt(getDoc(doc(db, "feeds/alice"))),
          };
        }"""
    )

    assert outcome == {"other": "permission-denied", "list": "permission-denied", "own": "allowed"}
    assert not set(cards(alice, "feed")) & set(stories[3:])


def test_a_click_from_the_feed_is_captured_and_exported_with_its_recommendation_id(
    world: World, open_homepage: Open
) -> None:
    stories = world.stories(8)
    world.feed("alice", stories[2:6], recommendationId="rec-alice-42")
    alice = open_homepage("alice")
    wait_cards(alice, "feed", 4)
    wait_cards(alice, "latest", 8)
    time.sleep(1.5)  # every feed card is in view: all four are seen
    alice.evaluate("window.storyrecHome.flushImpressions()")
    assert [w["refused"] for w in written(alice, "impressions")] == [None, None]  # the feed and latest views

    click_card(alice, "feed", stories[3])
    click_card(alice, "latest", stories[0])
    sent = written(alice, "clicks")

    assert [c["refused"] for c in sent] == [None, None], sent
    by_id = {c["id"]: c for c in world.docs("clicks", userId="alice")}
    feed_click, latest_click = by_id[sent[0]["id"]], by_id[sent[1]["id"]]
    assert feed_click["storyId"] == stories[3] and feed_click["recommendationId"] == "rec-alice-42"
    assert "source" not in feed_click  # the feed had a recommendationId, no attribution source
    assert latest_click["source"] == "latest" and "recommendationId" not in latest_click
    assert feed_click["type"] == "open" and feed_click["device"] == "web"
    # capture recorded each click once, under the click's own id, with its attribution
    captured = wait_until(
        lambda: {i: world.admin.document(f"ml_interactions/{i}").get() for i in by_id},
        lambda docs: all(d.exists for d in docs.values()),
        timeout=60,
        interval=0.5,
        max_interval=1.0,
        what="the captured clicks",
    )
    assert captured[feed_click["id"]].get("RECOMMENDATION_ID") == "rec-alice-42"
    assert captured[latest_click["id"]].get("EVENT_ATTRIBUTION_SOURCE") == "latest"
    wait_until(
        lambda: world.docs("ml_impressions"),
        lambda docs: len(docs) == 2,
        timeout=60,
        interval=0.5,
        max_interval=1.0,
        what="the captured impressions",
    )
    alice.screenshot("homepage-after-clicks")

    # the day's export: the feed click's row carries the recommendation id and what the reader saw of that list
    rows = exported_interactions(world)
    assert rows[stories[3]] == {
        "RECOMMENDATION_ID": "rec-alice-42",
        "EVENT_ATTRIBUTION_SOURCE": "",
        "IMPRESSION": "|".join(stories[2:6]),
    }
    assert rows[stories[0]]["EVENT_ATTRIBUTION_SOURCE"] == "latest" and rows[stories[0]]["RECOMMENDATION_ID"] == ""


def exported_interactions(world: World) -> dict[str, dict[str, str]]:
    """Export today (the clock moved past its end) from the emulator's Firestore; the interactions rows by story.

    The Firestore side is the real adapter on the emulator; the buckets are in memory (the export's S3 and GCS
    writes are tested on moto and the GCS emulator by tests/integration/export).
    """
    from shared.adapters.firestore import FirestoreDocumentStore
    from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
    from shared.export import ExportDeps, run_export
    from shared.schema import load_schema

    day = world.now.date()
    after = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(minutes=30)
    deps = ExportDeps(
        docs=FirestoreDocumentStore(world.admin),
        import_store=InMemoryObjectStore("import"),
        backup_store=InMemoryObjectStore("backup"),
        notifier=RecordingNotifier(),
        metrics=RecordingMetrics(),
        clock=lambda: after,
    )
    run_export(day, deps)
    [key] = [o.key for o in deps.import_store.list("interactions/")]
    header, *rows = list(csv.reader(io.StringIO(deps.import_store.get_bytes(key).decode())))
    assert header == load_schema("interactions").header
    wanted = ("RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE", "IMPRESSION")
    return {row[header.index("ITEM_ID")]: {h: row[header.index(h)] for h in wanted} for row in rows}


def test_impressions_count_only_cards_that_were_really_seen(world: World, open_homepage: Open) -> None:
    stories = world.stories(20)
    world.feed("alice", stories, recommendationId="rec-alice-scroll")
    # a short window: only the first few cards fit
    alice = open_homepage("alice", viewport={"width": 900, "height": 700})
    wait_cards(alice, "feed", 20)
    visible_at_top = alice.evaluate(VISIBLE_CARDS)
    time.sleep(2.0)  # more than a second at the top

    # scroll through the middle in under a second, then stay at the bottom
    alice.evaluate("document.querySelector(\"#feed-list .card[data-story-id='s009']\").scrollIntoView()")
    time.sleep(0.3)
    alice.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    visible_at_bottom = alice.evaluate(VISIBLE_CARDS)
    time.sleep(2.0)
    ids = alice.evaluate("window.storyrecHome.flushImpressions()")
    sent = written(alice, "impressions")

    assert len(ids) >= 1 and {w["impressionId"] for w in sent} == set(ids)
    assert [w["refused"] for w in sent] == [None] * len(sent)
    feed_views = [
        w for w in world.docs("impressions", userId="alice") if w.get("recommendationId") == "rec-alice-scroll"
    ]
    assert len(feed_views) == 1  # one document for this view of the feed
    seen = feed_views[0]["storyIds"]
    expected = [s for s in stories if s in set(visible_at_top) | set(visible_at_bottom)]
    assert seen == expected  # in feed order, each once
    assert "s009" not in seen and "s010" not in seen  # scrolled past in 0.3 s: not seen
    assert feed_views[0]["id"] in ids
    latest_views = [w for w in world.docs("impressions", userId="alice") if w.get("source") == "latest"]
    assert len(latest_views) == 1 and "recommendationId" not in latest_views[0]
    assert latest_views[0]["storyIds"] == sorted(latest_views[0]["storyIds"])  # newest first, as listed
    alice.screenshot("homepage-impressions")


# the feed cards at least half inside the viewport right now
VISIBLE_CARDS = """[...document.querySelectorAll('#feed-list .card')].filter(c => {
  const r = c.getBoundingClientRect();
  const shown = Math.max(0, Math.min(r.bottom, innerHeight) - Math.max(r.top, 0));
  return shown >= r.height / 2;
}).map(c => c.dataset.storyId)"""


def test_clicks_made_offline_arrive_exactly_once_after_reconnecting(world: World, open_homepage: Open) -> None:
    stories = world.stories(6)
    world.feed("alice", stories[:4])
    alice = open_homepage("alice")
    wait_cards(alice, "feed", 4)

    alice.context.set_offline(True)
    alice.page.wait_for_function("!navigator.onLine")
    for story in (stories[0], stories[1], stories[0]):  # the same story twice: two events
        click_card(alice, "feed", story)
    clicked = [c["id"] for c in alice.evaluate("window.storyrecHome.clicks")]
    time.sleep(3.0)
    assert world.docs("clicks", userId="alice") == []  # nothing left the browser
    assert alice.page.inner_text("#clicks") == "3 clicks recorded, 3 waiting to be sent"
    alice.screenshot("homepage-offline")

    alice.context.set_offline(False)
    arrived = wait_until(
        lambda: world.docs("clicks", userId="alice"),
        lambda docs: len(docs) >= 3,
        timeout=60,
        interval=0.5,
        max_interval=1.0,
        what="the queued clicks",
    )
    time.sleep(3.0)  # any duplicate would have arrived by now
    arrived = world.docs("clicks", userId="alice")
    assert sorted(d["id"] for d in arrived) == sorted(clicked)
    assert [c["refused"] for c in written(alice, "clicks")] == [None] * 3
    captured = wait_until(
        lambda: [world.admin.document(f"ml_interactions/{i}").get() for i in clicked],
        lambda docs: all(d.exists for d in docs),
        timeout=60,
        interval=0.5,
        max_interval=1.0,
        what="the captured clicks",
    )
    assert len(captured) == 3


def test_a_stale_feed_and_a_cold_feed_show_their_badges(world: World, open_homepage: Open) -> None:
    stories = world.stories(6)
    world.feed("carol", stories[:3], stale=True, staleReason="personalize-unavailable")
    world.feed(
        "dave", stories[3:], kind="popular", recommendationId=None, attributionSource="storyrec-popular", arm="control"
    )

    carol = open_homepage("carol")
    wait_cards(carol, "feed", 3)
    stale = carol.page.locator("#badges .badge.stale")
    assert stale.inner_text() == "stale" and stale.get_attribute("title") == "personalize-unavailable"
    assert "previous ones" in carol.page.inner_text("#feed-meta")
    carol.screenshot("homepage-stale-feed")

    dave = open_homepage("dave")
    wait_cards(dave, "feed", 3)
    assert dave.page.locator("#badges .badge.cold").inner_text() == "popular picks"
    assert dave.page.locator("#badges .badge.stale").count() == 0
    feed = dave.evaluate("window.storyrecHome.client.feed")
    assert feed["cold"] is True and feed["attributionSource"] == "storyrec-popular" and feed["arm"] == "control"


def test_refresh_asks_the_callable_for_the_readers_own_feed(world: World, open_homepage: Open) -> None:
    world.stories(12)
    frank = open_homepage("frank")  # no history: the refresh writes the popular feed, no Personalize call

    frank.page.click("#refresh")
    frank.page.wait_for_function(  # either outcome ends the wait, so a failed call says why instead of timing out
        "['feed refreshed', 'refresh failed']"
        ".some((s) => document.querySelector('#message').textContent.startsWith(s))",
        timeout=120_000,
    )
    message = frank.page.inner_text("#message")
    assert message.startswith("feed refreshed"), message
    count = len(wait_cards(frank, "feed", int(message.split()[2])))
    assert count > 0
    assert frank.page.locator("#badges .badge.cold").count() == 1
    assert world.admin.document("feeds/frank").get().get("kind") == "popular"


def test_hostile_writes_from_the_page_are_refused_by_the_rules(world: World, open_homepage: Open) -> None:
    stories = world.stories(3)
    world.feed("alice", stories)
    alice = open_homepage("alice")
    wait_cards(alice, "feed", 3)

    outcome = alice.evaluate(
        """async (story) => {
          const { doc, collection, setDoc, serverTimestamp, Timestamp } = await import("firebase/firestore");
          const db = window.storyrecHome.db;
          const click = (fields) => ({ userId: "alice", storyId: story, type: "open", clientTime: Timestamp.now(),
                                       createdAt: serverTimestamp(), ...fields });
          const impression = (fields) => ({ userId: "alice", storyIds: [story], clientTime: Timestamp.now(),
                                            createdAt: serverTimestamp(), ...fields });
          const tryIt = (p) => p.then(() => "allowed", (e) => e.code);
          const write = (col, data) => tryIt(setDoc(doc(collection(db, col)), data));
          const module = window.storyrecHome.client;
          const thrown = (f) => { try { f(); return "accepted"; } catch (e) { return e.name; } };
          return {
            forgedClickUid: await write("clicks", click({ userId: "bob" })),
            oversizeStoryId: await write("clicks", click({ storyId: "x".repeat(257) })),
            hugeStoryId: await write("clicks", click({ storyId: "x".repeat(1 << 20) })),
            oversizeField: await write("clicks", click({ sessionId: "s".repeat(300) })),
            unknownField: await write("clicks", click({ note: "hi" })),
            inventedSource: await write("clicks", click({ source: "my-own-source" })),
            clientCreatedAt: await write("clicks", click({ createdAt: Timestamp.now() })),
            forgedImpressionUid: await write("impressions", impression({ userId: "bob" })),
            oversizeImpression: await write("impressions", impression({
              storyIds: Array.from({ length: 26 }, (_, i) => `s${i}`) })),
            moduleOversizeStoryId: thrown(() => module.recordClick("x".repeat(300), "open")),
            moduleBadType: thrown(() => module.recordClick(story, "purchase")),
            moduleFormula: thrown(() => module.recordClick("=HYPERLINK(1)", "open")),
          };
        }""",
        stories[0],
    )

    # a 1 MiB field makes the document too large for Firestore itself, before the rules see it
    assert outcome.pop("hugeStoryId") in ("permission-denied", "invalid-argument"), outcome
    refused = {k: v for k, v in outcome.items() if not k.startswith("module")}
    assert refused == dict.fromkeys(refused, "permission-denied"), outcome
    assert {k: v for k, v in outcome.items() if k.startswith("module")} == {
        "moduleOversizeStoryId": "TypeError",
        "moduleBadType": "TypeError",
        "moduleFormula": "TypeError",
    }
    assert world.docs("clicks") == [] and world.docs("impressions") == []


def test_the_demo_prints_a_homepage_and_a_reader_who_can_sign_in(world: World, browser: Any) -> None:
    """infra/local/demo/homepage.py on this suite: the account it makes signs in through the page's form."""
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from infra.local.demo.homepage import show_homepage

    stories = world.stories(5)
    world.feed("-1032019229384696495", stories[1:4])  # a Deskdrop person id: the demo's readers look like this
    out = io.StringIO()
    ctx = SimpleNamespace(facts={"showcase": {"user": "-1032019229384696495"}}, console=Console(file=out, width=300))

    show_homepage(ctx, world.suite, serve=False)  # type: ignore[arg-type]

    shown = ctx.facts["homepage"]
    assert f"homepage: {world.suite.hosting_url}/" in out.getvalue() and shown["email"] in out.getvalue()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(shown["url"] + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.fill("#email", shown["email"])
        page.fill("#password", shown["password"])
        page.click("#sign-in button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#feed-list .card').length === 3", timeout=30_000)
        ids = page.evaluate("[...document.querySelectorAll('#feed-list .card')].map(c => c.dataset.storyId)")
        assert ids == stories[1:4]
    finally:
        context.close()
