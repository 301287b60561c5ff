"""``storyrec evaluate`` on the in-memory port: what is imported, one version per recipe, the table's verdicts."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from shared.operate.evaluate import Evaluation, EvaluationFailed, RecipeResult, evaluate
from shared.personalize.model import ImportRequest, Status, TrainingMode
from tests.unit.aws.fakes import FakePersonalize
from tests.unit.cli.conftest import NOW, Fakes, P
from tests.unit.cli.test_stage_commands import _manifest

pytestmark = pytest.mark.unit
SCORES = {"aws-user-personalization": 0.3, "aws-popularity-count": 0.1, "aws-trending-now": 0.12}


class Engine(FakePersonalize):
    """Imports and training finish at once; each recipe's NDCG@10 is fixed (a broken recipe fails)."""

    def __init__(self) -> None:
        super().__init__(NOW)
        self.recipes: dict[str, str] = {}

    def ensure_solution(self, spec):  # type: ignore[no-untyped-def]
        arn = super().ensure_solution(spec)
        self.recipes[arn] = spec.recipe_arn.rsplit("/", 1)[-1]
        return arn

    def start_import(self, request: ImportRequest) -> str:
        arn = super().start_import(request)
        self.jobs[request.dataset_arn] = [replace(j, status=Status.ACTIVE) for j in self.jobs[request.dataset_arn]]
        return arn

    def create_solution_version(self, solution_arn: str, name: str, mode: TrainingMode = "FULL") -> str:
        existing = [v for v in self.versions[solution_arn] if v.name == name]
        if existing:
            return existing[0].arn
        arn = super().create_solution_version(solution_arn, name, mode)
        recipe = self.recipes[solution_arn]
        if recipe in SCORES:
            self.set_version(arn, Status.ACTIVE, {P: SCORES[recipe], "coverage": 0.5})
        else:
            self.set_version(arn, Status.CREATE_FAILED, reason=f"{recipe} cannot train on this data")
        return arn


def test_every_interactions_file_and_the_newest_snapshots_then_one_version_per_recipe(fakes: Fakes) -> None:
    engine = Engine()
    deps = replace(fakes.deps, personalize=engine, poll_interval=0.0)
    _manifest(fakes, "2026-11-27")
    _manifest(fakes, "2026-11-28")
    result = evaluate(deps)
    assert [r.status for r in result.results] == ["ACTIVE"] * 3
    names = sorted(j.name for js in engine.jobs.values() for j in js)
    assert len(names) == 2 and names[0].startswith("interactions-20261127")
    assert result.best(P) == "aws-user-personalization"
    assert result.beats_baseline("aws-user-personalization", P) and not result.beats_baseline("aws-popularity-count", P)
    again = evaluate(deps)  # same exports → same scratch group, same versions
    assert [r.solution_version_arn for r in again.results] == [r.solution_version_arn for r in result.results]


def test_a_failed_recipe_is_reported_and_the_cli_exits_1(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine()
    deps = replace(fakes.deps, personalize=engine, poll_interval=0.0)
    import shared.wiring

    monkeypatch.setattr(shared.wiring, "stage_deps", lambda settings, **_: deps)
    _manifest(fakes)
    result = fakes.run("evaluate", "-r", "aws-user-personalization", "-r", "aws-next-best-action", "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    failed = {r["recipe"]: r for r in body["results"]}["aws-next-best-action"]
    assert failed["status"] == "CREATE FAILED" and "cannot train" in failed["failure_reason"]
    shown = fakes.run("evaluate", "-r", "aws-user-personalization", "-r", "aws-popularity-count")
    assert shown.exit_code == 0 and "beats the popularity baseline" in shown.output


def test_nothing_to_evaluate_is_an_error(fakes: Fakes) -> None:
    with pytest.raises(EvaluationFailed, match="no export manifest"):
        evaluate(replace(fakes.deps, personalize=Engine()))


def test_verdicts_need_both_values() -> None:
    results = (RecipeResult("a", "x", "ACTIVE", {P: 0.2}), RecipeResult("aws-popularity-count", "y", "ACTIVE", {}))
    evaluation = Evaluation("g", ("m",), results)
    assert evaluation.beats_baseline("a", P) is None and evaluation.best(P) == "a" and evaluation.best("z") is None
