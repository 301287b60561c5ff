"""The experiment's arms in the feed fill: control readers get the popularity feed, challenger readers the
candidate's feeds by batch inference (no second campaign), the rest the campaign; every feed says its arm,
its test and its attribution source (docs/client.md). Refresh and first feeds keep the same arms."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore
from shared.experiment.assign import Experiment, experiment_for
from shared.personalize.model import CAMPAIGN_ITEM_EXPLORATION, BatchInferenceJob, BatchInferenceRequest, Status
from shared.recommend import fill_feeds, first_feed, refresh_user
from shared.recommend.document import feed_story_ids
from tests.unit.recommend.fakes import CAMPAIGN, NOW, click, make_deps, recommender, story

pytestmark = pytest.mark.unit
ITEMS = [f"s{i}" for i in range(12)]
CANDIDATE = "arn:aws:personalize:us-east-1:000000000000:solution/s/v2"
USERS = [f"u{i}" for i in range(40)]


def _docs() -> InMemoryDocumentStore:
    docs = InMemoryDocumentStore()
    for sid in ITEMS:
        story(docs, sid)
    for uid in USERS:
        click(docs, uid, "s0")
    return docs


def _test(champion: str | None) -> Experiment:
    return experiment_for(champion, CANDIDATE, 0.3, 0.3)


def _deps(docs: InMemoryDocumentStore, *, batch: bool = True, **config: Any) -> Any:
    rec = recommender(ITEMS, batch_store=InMemoryObjectStore("import") if batch else None)
    rec.per_user = {u: list(reversed(ITEMS)) for u in USERS}  # the candidate and the campaign rank alike here
    deps = make_deps(rec, docs, batch_role_arn="arn:aws:iam::000000000000:role/p", **config)
    deps.experiment = _test
    return deps, rec


def test_each_arm_is_served_by_its_source_and_says_so() -> None:
    docs = _docs()
    deps, rec = _deps(docs)
    test = _test(CAMPAIGN.solution_version_arn)
    summary = fill_feeds(deps)
    arms = {u: test.arm(u) for u in USERS}
    assert set(arms.values()) == {"champion", "challenger", "control"}
    assert summary.experiment_id == test.experiment_id == "test-v2-vs-v1"
    assert summary.arms == {a: list(arms.values()).count(a) for a in ("challenger", "control")}
    [job] = rec.batches  # one batch job: the challenger arm, from the candidate version
    assert job.solution_version_arn == CANDIDATE and job.job_name.endswith("-challenger")
    assert job.item_exploration == CAMPAIGN_ITEM_EXPLORATION  # it explores new stories as the champion's campaign
    asked = {c[0] for c in rec.calls}  # the campaign answered the champion arm only
    assert asked == {u for u, a in arms.items() if a == "champion"}
    for uid, arm in arms.items():
        doc = docs.get(f"feeds/{uid}") or {}
        assert doc["arm"] == arm and doc["experimentId"] == test.experiment_id
        if arm == "control":
            assert doc["kind"] == "popular" and doc["attributionSource"] == "storyrec-control"
            assert doc["recommendationId"] is None
        elif arm == "challenger":
            assert doc["kind"] == "personalized" and doc["attributionSource"] == "storyrec-challenger"
            assert doc["solutionVersionArn"] == CANDIDATE and doc["recommendationId"] is None
        else:
            assert doc["recommendationId"] == f"rid-{uid}" and doc["attributionSource"] is None
    assert (docs.get("ml_state/experiment") or {})["challenger"] == CANDIDATE


def test_a_recipe_without_exploration_sends_no_exploration_config() -> None:
    docs = _docs()
    deps, rec = _deps(docs)
    deps.personalize = replace(deps.personalize, recipe_arn="arn:aws:personalize:::recipe/aws-user-personalization-v2")
    fill_feeds(deps)
    [job] = rec.batches
    assert job.item_exploration is None


def test_without_the_batch_bucket_the_challenger_arm_keeps_stale_feeds_and_alerts() -> None:
    docs = _docs()
    deps, rec = _deps(docs, batch=False)
    summary = fill_feeds(deps)
    challengers = [u for u in USERS if _test(CAMPAIGN.solution_version_arn).arm(u) == "challenger"]
    assert rec.batches == [] and summary.stale == len(challengers) and summary.alerted
    assert all((docs.get(f"feeds/{u}") or {}).get("stale") for u in challengers)


def test_no_test_means_every_feed_is_champion_without_an_experiment() -> None:
    docs = _docs()
    deps, _ = _deps(docs)
    deps.experiment = None
    fill_feeds(deps)
    doc = docs.get("feeds/u1") or {}
    assert doc["arm"] == "champion" and doc["experimentId"] is None


def test_refresh_and_first_feed_keep_the_readers_arm() -> None:
    docs = _docs()
    deps, rec = _deps(docs)
    fill_feeds(deps)
    test = _test(CAMPAIGN.solution_version_arn)
    by_arm = {test.arm(u): u for u in USERS}
    before = docs.get(f"feeds/{by_arm['challenger']}")
    calls = len(rec.calls)
    assert refresh_user(deps, by_arm["control"]).kind == "popular"
    assert (docs.get(f"feeds/{by_arm['control']}") or {})["attributionSource"] == "storyrec-control"
    refresh_user(deps, by_arm["challenger"])
    assert docs.get(f"feeds/{by_arm['challenger']}") == before and len(rec.calls) == calls  # the batch's feed stays
    assert refresh_user(deps, by_arm["champion"]).kind == "personalized" and len(rec.calls) == calls + 1
    newcomer = next(u for u in (f"new{i}" for i in range(100)) if test.arm(u) == "control")
    assert first_feed(deps, newcomer)
    doc = docs.get(f"feeds/{newcomer}") or {}
    assert doc["arm"] == "control" and doc["experimentId"] == test.experiment_id and feed_story_ids(doc)


def test_the_fill_reads_the_challenger_admitted_against_the_serving_version_only() -> None:
    import json

    from shared.config import ExperimentSettings
    from shared.recommend.arms import experiment_from_state

    settings, champion = ExperimentSettings(), CAMPAIGN.solution_version_arn
    state = json.dumps({"champion": champion, "challenger": CANDIDATE}).encode()
    assert experiment_from_state(settings, state, champion).challenger == CANDIDATE
    holdout = experiment_from_state(settings, state, "arn:other/v9")  # promoted since: the test is over
    assert holdout.challenger is None and holdout.experiment_id == "holdout-v9"
    for broken in (None, b"", b"{", b"[]", json.dumps({"champion": champion, "challenger": 3}).encode()):
        assert experiment_from_state(settings, broken, champion).experiment_id == "holdout-v1"
    assert experiment_from_state(settings, state, None).experiment_id is None  # nothing serves


class _Jobs:
    """Batch jobs kept by name as Personalize keeps them: a second start of a name returns the first job,
    whatever its status; ``fail_next`` new jobs fail (CREATE PENDING when first described, then CREATE FAILED,
    no output)."""

    def __init__(self, rec: Any) -> None:
        self.rec, self.fail_next = rec, 0
        self.status: dict[str, Status] = {}
        self.created: list[str] = []
        start = rec.start_batch_inference

        def start_batch_inference(request: BatchInferenceRequest) -> str:
            arn = f"arn:aws:personalize:us-east-1:000000000000:batch-inference-job/{request.job_name}"
            if arn in self.status:
                return arn
            self.created.append(request.job_name)
            if self.fail_next:
                self.fail_next -= 1
                self.status[arn] = Status.CREATE_PENDING
                return arn
            start(request)
            self.status[arn] = Status.ACTIVE
            return arn

        def describe(arn: str) -> BatchInferenceJob:
            status = self.status[arn]
            if status is Status.CREATE_PENDING:
                self.status[arn] = Status.CREATE_FAILED  # it fails while the fill waits for it
            return BatchInferenceJob(arn, status, "boom")

        rec.start_batch_inference = start_batch_inference
        rec.describe_batch_inference_job = describe


def test_a_rerun_after_a_failed_challenger_job_starts_a_fresh_one_and_a_redelivery_reuses_it() -> None:
    docs = _docs()
    deps, rec = _deps(docs)
    jobs = _Jobs(rec)
    challengers = [u for u in USERS if _test(CAMPAIGN.solution_version_arn).arm(u) == "challenger"]
    jobs.fail_next = 1
    first = fill_feeds(deps, run_id="tick-1")
    assert first.errors.get("BatchInference") == len(challengers)
    assert not any((docs.get(f"feeds/{u}") or {}).get("solutionVersionArn") == CANDIDATE for u in challengers)

    deps.clock = lambda: NOW + timedelta(minutes=20)  # the tick delivered again, later
    fill_feeds(deps, run_id="tick-1")  # after the failure: a fresh job, not the failed one
    assert jobs.created == ["storyrec-feeds-tick-1-challenger", "storyrec-feeds-tick-1-challenger-2"]
    assert all((docs.get(f"feeds/{u}") or {}).get("solutionVersionArn") == CANDIDATE for u in challengers)
    assert rec.batches[-1].output_uri.endswith("tick-1-challenger/output/attempt-2/")

    fill_feeds(deps, run_id="tick-1")  # a second delivery once it succeeded: the successful job, no new one
    assert len(jobs.created) == 2


def test_a_cold_challenger_reader_gets_the_popular_feed_counted_in_its_arm_but_not_credited_to_the_candidate() -> None:
    docs = _docs()
    test = _test(CAMPAIGN.solution_version_arn)
    arms = ("challenger", "champion")
    cold = {arm: next(f"new{k}" for k in range(500) if test.arm(f"new{k}") == arm) for arm in arms}
    for uid in cold.values():  # a profile, no interaction: nobody's model knows them
        docs.set(f"ml_users/{uid}", {"updated_at": NOW - timedelta(hours=1)})
    deps, rec = _deps(docs)
    fill_feeds(deps)
    [job] = rec.batches
    sent = str(rec.batch_store.objects)  # the challenger job's input: the warm challenger readers only
    assert "u" in sent and cold["challenger"] not in sent
    feeds = {arm: docs.get(f"feeds/{uid}") or {} for arm, uid in cold.items()}
    # intention to treat: the arm is the assigned one in both arms alike (the lift compares like with like) ...
    assert feeds["challenger"]["arm"] == "challenger" and feeds["champion"]["arm"] == "champion"
    assert feeds["challenger"]["kind"] == feeds["champion"]["kind"] == "popular"
    # ... but the popular feed is never attributed to the candidate (Personalize's per-source report)
    assert feeds["challenger"]["attributionSource"] == feeds["champion"]["attributionSource"] == "storyrec-popular"
    assert feeds["challenger"]["solutionVersionArn"] is None and job.solution_version_arn == CANDIDATE


def test_a_control_reader_never_sees_a_story_read_before_the_window() -> None:
    """The arms differ in ranking only: the campaign's filter excludes all a reader ever read, so the control
    arm's popularity feed must too, or the lift would credit Personalize with not repeating old reads."""
    docs = _docs()
    test = _test(CAMPAIGN.solution_version_arn)
    control = [u for u in USERS if test.arm(u) == "control"]
    for uid in USERS:  # s5 is the popular story of the window
        click(docs, uid, "s5")
    for uid in control:
        click(docs, uid, "s3", days_ago=200)  # long before the window, and the window's most popular story
        click(docs, uid, "s7", days_ago=200)
    for uid in USERS[: len(USERS) // 2]:
        click(docs, uid, "s3")
        click(docs, uid, "s7")
    deps, _ = _deps(docs)
    fill_feeds(deps)
    for uid in control:
        doc = docs.get(f"feeds/{uid}") or {}
        assert doc["arm"] == "control" and feed_story_ids(doc), uid
        assert not {"s0", "s3", "s5", "s7"} & set(feed_story_ids(doc)), uid
