"""The online test's challenger arm on the real stand-ins (docs/experiment.md, Arms): the Firestore emulator,
moto S3/SNS and the local Personalize engine, with a champion version behind the campaign and a candidate
version (another recipe, so the two models answer differently) admitted to the test in the AWS stage's
``experiment.json`` — written by the monitor's own :class:`StageState`. One daily ``fill_feeds`` run must
give each reader the feed of the arm the salted hash puts them in."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from shared import wiring
from shared.adapters.s3 import S3ObjectStore
from shared.experiment.assign import version_id
from shared.personalize.state import StageState
from shared.recommend import FeedDeps, fill_feeds
from shared.recommend.campaign import AGE_PARAM, min_created, prepare, request_size
from shared.recommend.document import feed_story_ids
from shared.recommend.wiring import feed_deps
from tests.integration.recommend.conftest import Deskdrop
from tests.integration.recommend.test_feeds_engine import feeds

pytestmark = pytest.mark.integration
CONTROL, CHALLENGER = 0.1, 0.3
"""Larger arms than the defaults (5 %, 10 %) so each has enough of the subset's few hundred readers."""


@dataclass
class Admitted:
    champion: str
    candidate: str
    experiment_id: str
    settings: Any


def _active(describe: Callable[[], dict[str, Any]], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while (status := describe()["status"]) not in ("ACTIVE", "CREATE FAILED") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == "ACTIVE"


@pytest.fixture(scope="module")
def candidate(deskdrop: Deskdrop) -> Iterator[str]:
    """A second ACTIVE version in the campaign's dataset group, trained with the popularity recipe: no
    campaign serves it."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in deskdrop.env.items():
            patch.setenv(key, value)
        control = wiring.aws_client("personalize", deskdrop.settings)
        champion = control.describe_solution_version(solutionVersionArn=deskdrop.solution_version_arn)
        group = champion["solutionVersion"]["datasetGroupArn"]
        solution = control.create_solution(
            name=f"{deskdrop.settings.personalize.solution}-candidate",
            datasetGroupArn=group,
            recipeArn="arn:aws:personalize:::recipe/aws-popularity-count",
        )["solutionArn"]
        version = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        _active(lambda: control.describe_solution_version(solutionVersionArn=version)["solutionVersion"])
        yield version


@pytest.fixture
def admitted(deskdrop: Deskdrop, candidate: str, seeded: Any, monkeypatch: pytest.MonkeyPatch) -> Admitted:
    """The candidate admitted to the test against the campaign's version, as the monitor records it."""
    for key, value in deskdrop.env.items():
        monkeypatch.setenv(key, value)
    settings = deskdrop.settings
    settings = replace(
        settings, experiment=replace(settings.experiment, control_share=CONTROL, challenger_share=CHALLENGER)
    )
    store = wiring.import_store(settings)
    StageState(store, settings.aws_stage.state_prefix, lambda: deskdrop.now).start_test(
        deskdrop.solution_version_arn, candidate
    )
    test_id = f"test-{version_id(candidate)}-vs-{version_id(deskdrop.solution_version_arn)}"
    return Admitted(deskdrop.solution_version_arn, candidate, test_id, settings)


def expected_arm(test_id: str, uid: str) -> str:
    """The documented hash, computed here independently of shared/experiment/assign.py."""
    x = int.from_bytes(hashlib.sha256(f"{test_id}:{uid}".encode()).digest()[:8], "big") / 2**64
    return "control" if x < CONTROL else "challenger" if x < CONTROL + CHALLENGER else "champion"


def make_deps(deskdrop: Deskdrop, test: Admitted, sns_topic: Any, later: timedelta = timedelta(0)) -> FeedDeps:
    from shared.adapters.sns import SnsNotifier

    deps = feed_deps(test.settings, clock=lambda: deskdrop.now + later)
    deps.notifier = SnsNotifier(wiring.aws_client("sns", test.settings), sns_topic.topic_arn)
    deps.batch_poll_seconds = 0.2
    return deps


def batch_jobs(deskdrop: Deskdrop) -> list[dict[str, Any]]:
    control = wiring.aws_client("personalize", deskdrop.settings)
    return [
        control.describe_batch_inference_job(batchInferenceJobArn=j["batchInferenceJobArn"])["batchInferenceJob"]
        for j in control.list_batch_inference_jobs(maxResults=100)["batchInferenceJobs"]
    ]


def jobs_of(deskdrop: Deskdrop, test: Admitted) -> list[dict[str, Any]]:
    return [j for j in batch_jobs(deskdrop) if j["solutionVersionArn"] == test.candidate]


def input_users(store: S3ObjectStore, job: dict[str, Any]) -> list[str]:
    key = job["jobInput"]["s3DataSource"]["path"].split("/", 3)[3]
    return [json.loads(line)["userId"] for line in store.get_bytes(key).decode().splitlines()]


def output_items(store: S3ObjectStore, job: dict[str, Any]) -> dict[str, list[str]]:
    key = job["jobInput"]["s3DataSource"]["path"].split("/", 3)[3]
    out = job["jobOutput"]["s3DataDestination"]["path"].split("/", 3)[3].rstrip("/") + "/" + key.rsplit("/", 1)[-1]
    answers = {}
    for line in store.get_bytes(out + ".out").decode().splitlines():
        record = json.loads(line)
        query = record["input"] if isinstance(record["input"], dict) else json.loads(record["input"])
        answers[query["userId"]] = [str(i) for i in record["output"]["recommendedItems"]]
    return answers


def test_a_daily_fill_serves_each_arm_from_its_own_source(
    deskdrop: Deskdrop, admitted: Admitted, seeded: Any, sns_topic: Any
) -> None:
    test = admitted
    deps = make_deps(deskdrop, test, sns_topic)
    before = {j["jobName"] for j in jobs_of(deskdrop, test)}
    summary = fill_feeds(deps, run_id="20261206T030000")
    written = feeds(seeded)
    assert summary.experiment_id == test.experiment_id and summary.stale == 0 and not summary.alerted
    arms: dict[str, set[str]] = {"champion": set(), "challenger": set(), "control": set()}
    for uid, feed in written.items():
        assert feed["arm"] == expected_arm(test.experiment_id, uid), uid
        assert feed["experimentId"] == test.experiment_id
        arms[feed["arm"]].add(uid)
    assert all(len(a) >= 10 for a in arms.values()), {k: len(v) for k, v in arms.items()}

    # one batch job for the daily fill, of the candidate's version, named after the run, asked for the
    # challenger readers only (the fill keeps the test for the refresh and first-feed paths)
    [job] = [j for j in jobs_of(deskdrop, test) if j["jobName"] not in before]
    assert job["jobName"] == "storyrec-feeds-20261206T030000-challenger" and job["status"] == "ACTIVE"
    assert not [j for j in batch_jobs(deskdrop) if j["solutionVersionArn"] == test.champion]
    store = wiring.import_store(test.settings)
    assert set(input_users(store, job)) == arms["challenger"]
    state = seeded.get("ml_state/experiment")
    assert (state["experimentId"], state["champion"], state["challenger"]) == (
        test.experiment_id,
        test.champion,
        test.candidate,
    )

    # challenger readers: the candidate's answer (its order, minus what they read), attributed to the arm;
    # not what the campaign (the champion) answers them, while champion readers' feeds are exactly that
    answers = output_items(store, job)
    differ = 0
    for uid in arms["challenger"]:
        feed = written[uid]
        assert (feed["kind"], feed["attributionSource"], feed["recommendationId"]) == (
            "personalized",
            "storyrec-challenger",
            None,
        ), uid
        assert feed["solutionVersionArn"] == test.candidate
        ids = feed_story_ids(feed)
        assert ids and subsequence(ids, answers[uid]), uid
        differ += not subsequence(ids, campaign_answer(deps, deskdrop, uid))
    assert differ >= 0.8 * len(arms["challenger"]), (differ, len(arms["challenger"]))

    # control readers: the popularity feed, their arm's source
    for uid in arms["control"]:
        feed = written[uid]
        assert (feed["kind"], feed["attributionSource"], feed["recommendationId"]) == (
            "popular",
            "storyrec-control",
            None,
        )
    # champion readers with history: the campaign's feed, attributed by its recommendation id
    for uid in arms["champion"]:
        feed = written[uid]
        assert feed["kind"] == "personalized" and feed["recommendationId"], uid
        assert feed["attributionSource"] is None and feed["solutionVersionArn"] == test.champion
        assert subsequence(feed_story_ids(feed), campaign_answer(deps, deskdrop, uid)), uid

    # the same daily fill again (a retried schedule): no second job, every feed write a no-op
    fill_feeds(deps, run_id="20261206T030000")
    assert [j["jobName"] for j in jobs_of(deskdrop, test) if j["jobName"] not in before] == [job["jobName"]]
    assert feeds(seeded) == written


def subsequence(ids: list[str], ranked: list[str]) -> bool:
    """Whether ``ids`` are some of ``ranked``, in its order (a feed is its answer minus what may not be shown)."""
    rest = iter(ranked)
    return all(i in rest for i in ids)


def campaign_answer(deps: FeedDeps, deskdrop: Deskdrop, uid: str) -> list[str]:
    """What the campaign (the champion) answers ``uid``, asked as the fill asks it."""
    _, filter_arn = prepare(deps)
    values = {AGE_PARAM: str(min_created(deskdrop.now, deps.config))}
    n = request_size(deps.personalize.num_results)
    ranked = deps.recommender.get_recommendations(deskdrop.campaign_arn, uid, n, filter_arn, values)
    return [r.item_id for r in ranked.items]


class LosesChallengerInput(S3ObjectStore):
    """The import bucket, but the challenger job's input never lands (the job then fails on the engine)."""

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        if key.endswith("-challenger/users.jsonl"):
            return
        super().put_bytes(key, data, content_type=content_type)


def test_a_failed_challenger_job_keeps_their_feeds_marked_stale_and_alerts_once(
    deskdrop: Deskdrop, admitted: Admitted, seeded: Any, sns_topic: Any
) -> None:
    test = admitted
    fill_feeds(make_deps(deskdrop, test, sns_topic), run_id="day-1")
    before = feeds(seeded)
    sns_topic.messages(expect=1, timeout=1)  # drain
    deps = make_deps(deskdrop, test, sns_topic, later=timedelta(milliseconds=1))
    real = wiring.import_store(test.settings)
    deps.batch_store = LosesChallengerInput(real._client, real.bucket)
    summary = fill_feeds(deps, run_id="day-2")
    after = feeds(seeded)

    [job] = [j for j in jobs_of(deskdrop, test) if j["jobName"] == "storyrec-feeds-day-2-challenger"]
    assert job["status"] == "CREATE FAILED" and job["failureReason"]
    challengers = {u for u, f in before.items() if f["arm"] == "challenger" and f["kind"] == "personalized"}
    assert challengers
    for uid, feed in after.items():
        if uid in challengers:  # the previous (day-1) feed, kept and marked stale
            assert feed_story_ids(feed) == feed_story_ids(before[uid]) and feed["runId"] == "day-1"
            assert feed["stale"] is True and "batch inference" in feed["staleReason"]
        else:  # every other arm was filled as usual
            assert feed["runId"] == "day-2" and feed["stale"] is False, uid
    assert summary.stale == len(challengers) and summary.alerted
    assert summary.errors == {"BatchInference": len(challengers)}
    messages = sns_topic.messages(expect=2, timeout=5)
    assert len(messages) == 1
    assert messages[0]["MessageAttributes"]["affected"]["Value"] == str(len(challengers))
