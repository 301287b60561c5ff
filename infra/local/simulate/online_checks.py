"""The online test's invariants (docs/simulate.md): impressions and attributed clicks, reconciled from the
readers' ground truth through Firestore, the export's interactions rows and its daily exposure files.

* impressions captured: every impression a reader wrote is in ``ml_impressions`` with its stories and its
  list's attribution (checked for the impressions written since the last check);
* clicks carry their list's attribution and impression: each exported row of a click the readers made on a
  list carries that list's ``RECOMMENDATION_ID`` (when it has no source) and ``EVENT_ATTRIBUTION_SOURCE``,
  and the ``IMPRESSION`` of the view the click came from (docs/export.md, "Attribution and impressions");
* impressions exported once: on every day the export wrote an exposure file for (a test ran), each reader
  with a feed impression or a feed click that day is in exactly one of that day's files, with exactly the
  stories seen and feed clicks the readers made;
* no hostile impression exported: no exported row's ``IMPRESSION`` cell is other than one of its reader's own
  captured impressions (a hostile one's stories are ids the app never publishes), and no exposure file counts a
  reader-day's stories beyond the readers' truth on a day a hostile impression with a feed's attribution was
  written for that reader.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from infra.local.simulate.invariants import Check, Exports, not_checked, ok, violated
from infra.local.simulate.world import SentClick, SentImpression, World, accepted
from shared import wiring
from shared.config import Settings

Key = tuple[str, str, int, str]
_DAY_FILE = re.compile(r"([^/]+)/(\d{4}-\d{2}-\d{2})\.csv$")
IMPRESSIONS = "impressions captured"
ATTRIBUTION = "clicks carry their list's attribution and impression"
EXPOSURE = "impressions exported once"
ARMS = "exposure counted in the arm the reader saw"
HOSTILE = "no hostile impression exported"
NAMES = (IMPRESSIONS, ATTRIBUTION, EXPOSURE, ARMS, HOSTILE)


def captured(imp: SentImpression) -> bool:
    return imp.outcome in ("captured", "duplicate")


def from_feed(fields: Mapping[str, str]) -> bool:
    """The export's rule (shared/export/exposure.py): a recommendation id or a ``storyrec-*`` source."""
    return bool(fields.get("recommendationId")) or fields.get("source", "").startswith("storyrec-")


class OnlineChecks:
    """State across days: the impressions already checked, the export's full rows per manifest."""

    def __init__(self) -> None:
        self.checked = 0
        self._rows: dict[str, tuple[str, dict[Key, list[dict[str, str]]]]] = {}

    # --- impressions in ml_impressions --------------------------------------------------------------
    def impressions(self, world: World) -> Check:
        new = world.impressions[self.checked :]
        lost = [i.impression_id for i in new if not captured(i)]
        collection = world.firestore.collection(world.settings.collections.ml_impressions)
        found: dict[str, dict[str, Any]] = {}
        ids = [i.impression_id for i in new if captured(i)]
        for start in range(0, len(ids), 300):
            refs = [collection.document(i) for i in ids[start : start + 300]]
            found.update({s.id: s.to_dict() or {} for s in world.firestore.get_all(refs) if s.exists})
        wrong = []
        for imp in new:
            if not captured(imp):
                continue
            record = found.get(imp.impression_id)
            fields = imp.view.fields()
            want = (
                imp.uid,
                list(imp.story_ids),
                fields.get("recommendationId"),
                fields.get("source"),
            )
            got = (
                (
                    record.get("USER_ID"),
                    record.get("ITEM_IDS"),
                    record.get("RECOMMENDATION_ID") or None,
                    record.get("EVENT_ATTRIBUTION_SOURCE") or None,
                )
                if record is not None
                else None
            )
            if got != want:
                wrong.append((imp.impression_id, want, got))
        self.checked = len(world.impressions)
        if lost or wrong:
            return violated(IMPRESSIONS, f"{len(lost)} not captured, {len(wrong)} missing or different", lost + wrong)
        feed = sum(1 for i in new if i.view.list == "feed")
        return ok(IMPRESSIONS, f"{len(new)} new impressions ({feed} of a feed, {len(new) - feed} of the latest list)")

    # --- the exported rows' attribution ---------------------------------------------------------------
    def _refresh(self, settings: Settings, exports: Exports) -> dict[Key, list[dict[str, str]]]:
        for key, manifest in exports.manifests.items():  # the rows Exports read (a held day's parts may expire)
            if key in self._rows and self._rows[key][0] == manifest.run_id:
                continue
            rows: dict[Key, list[dict[str, str]]] = {}
            for r in exports.records.get(key, []):
                k = (r["USER_ID"], r["ITEM_ID"], int(r["TIMESTAMP"]), r["EVENT_TYPE"])
                rows.setdefault(k, []).append(r)
            self._rows[key] = (manifest.run_id, rows)
        merged: dict[Key, list[dict[str, str]]] = {}
        for _, rows in self._rows.values():
            for k, found in rows.items():
                merged.setdefault(k, []).extend(found)
        return merged

    def attribution(self, world: World, settings: Settings, exports: Exports) -> Check:
        rows = self._refresh(settings, exports)
        by_id = {i.impression_id: i for i in world.impressions}
        same_second = views_by_second(world.impressions)
        wrong: list[Any] = []
        checked = Counter[str]()
        ties = 0
        for click in world.clicks:
            if click.hostile or not accepted(click) or click.view is None or click.key not in rows:
                continue
            seen = by_id.get(click.impression_id)
            joined = tie_winner(click, seen, same_second)
            ties += joined is not seen
            want = expected_row(click, joined)
            for row in rows[click.key]:
                got = {k: row.get(k, "") for k in want}
                if got != want:
                    wrong.append((click.click_id, want, got))
            checked[click.view.list] += 1
        if wrong:
            return violated(ATTRIBUTION, f"{len(wrong)} exported rows with another attribution", wrong)
        tied = f"; {ties} decided by the same-second tie rule" if ties else ""
        return ok(ATTRIBUTION, f"{checked['feed']} feed and {checked['latest']} latest-list clicks exported{tied}")

    # --- hostile impressions --------------------------------------------------------------------------
    def hostile(self, world: World, settings: Settings, exports: Exports) -> Check:
        """No hostile impression in an exported ``IMPRESSION`` cell or an exposure file (after data_checks)."""
        return hostile_exported(world, self._refresh(settings, exports), exposure_files(settings))

    # --- the exposure files ---------------------------------------------------------------------------
    def exposure(self, world: World, settings: Settings) -> Check:
        return self.exposure_checks(world, settings)[0]

    def exposure_checks(self, world: World, settings: Settings) -> list[Check]:
        """Impressions exported once (counts), and each exposure row's test and arm are those of the feeds
        the reader saw that day (a reader whose challenger feed was never made must not count as challenger)."""
        files = exposure_files(settings)
        if not files:
            state = world.firestore.document(f"{settings.collections.state}/experiment").get()
            if not (state.exists and (state.to_dict() or {}).get("experimentId")):
                why = "no test has run (nothing serves): no exposure file is due"
                return [ok(EXPOSURE, why), ok(ARMS, why)]
            why = "a test runs but no export has written its first day yet"
            return [not_checked(EXPOSURE, why), not_checked(ARMS, why)]
        truth = truth_by_test(world)
        saw = arms_seen(world)
        problems = compare_files(files, truth)
        other_arm: list[Any] = []
        for day, found in sorted(files.items()):
            for experiment_id, data in found:
                for r in csv.DictReader(io.StringIO(data.decode("utf-8"))):
                    arms = saw.get((day, r.get("user_id") or ""), set())
                    if arms and (experiment_id, r.get("arm") or "") not in arms:
                        uid = r.get("user_id")
                        other_arm.append((day, uid, "counted", experiment_id, r.get("arm"), "saw", sorted(arms)))
        written = {(day, experiment_id) for day, found in files.items() for experiment_id, _ in found}
        rows = sum(1 for d, e, _ in truth if (d, e) in written)
        counted = (
            violated(EXPOSURE, f"{len(problems)} reader-days differ from the readers' truth", problems)
            if problems
            else ok(EXPOSURE, f"{len(files)} day(s) with a test: {rows} reader-days as the readers made them")
        )
        arm_check = (
            violated(
                ARMS, f"{len(other_arm)} reader-days counted in a test or arm whose feed they did not see", other_arm
            )
            if other_arm
            else ok(ARMS, f"{rows} reader-days, each in the test and arm of the feeds the reader saw")
        )
        return [counted, arm_check]


def exposure_files(settings: Settings) -> dict[str, list[tuple[str, bytes]]]:
    """The test's day files in the import bucket: per day, each (experimentId, CSV bytes)."""
    store = wiring.import_store(settings)
    prefix = settings.import_prefix + settings.experiment.aggregate_prefix
    files: dict[str, list[tuple[str, bytes]]] = {}
    for info in store.list(prefix):
        m = _DAY_FILE.search(info.key)
        if m and m.group(1) != "pre":
            files.setdefault(m.group(2), []).append((m.group(1), store.get_bytes(info.key)))
    return files


def hostile_exported(
    world: World, rows: Mapping[Key, list[dict[str, str]]], files: Mapping[str, list[tuple[str, bytes]]]
) -> Check:
    """No exported row's ``IMPRESSION`` cell is anything but one of its reader's captured impressions (a hostile
    impression's cell is named as such); no exposure file counts a reader more stories than the readers' truth
    on a day a hostile impression carrying a feed's attribution was written for that reader."""
    own: dict[str, set[str]] = {}
    for imp in world.impressions:
        if captured(imp):
            own.setdefault(imp.uid, set()).add("|".join(imp.story_ids))
    cells = {i.cell for i in world.hostile_impressions if i.cell}
    wrong: list[Any] = []
    for found in rows.values():
        for row in found:
            cell, uid = row.get("IMPRESSION") or "", row.get("USER_ID") or ""
            if cell and cell not in own.get(uid, set()):
                what = "a hostile impression's stories" if cell in cells else "no impression of the reader"
                wrong.append(("IMPRESSION", uid, cell[:80], what))
    truth = truth_by_test(world)
    suspects = {(i.created.date().isoformat(), i.uid) for i in world.hostile_impressions if i.from_feed}
    in_files = 0
    for day, found in sorted(files.items()):
        for experiment_id, data in found:
            for r in csv.DictReader(io.StringIO(data.decode("utf-8"))):
                uid = r.get("user_id") or ""
                if (day, uid) not in suspects:
                    continue
                in_files += 1
                want = truth.get((day, experiment_id, uid), (0, 0))[0]
                got = int(float(r.get("impressions") or 0))
                if got != want:
                    wrong.append(("exposure", day, experiment_id, uid, "impressions", got, "readers' truth", want))
    total = len(world.hostile_impressions)
    if wrong:
        return violated(HOSTILE, f"{len(wrong)} exported rows carry what no reader's own impression did", wrong)
    return ok(
        HOSTILE,
        f"{total} hostile impressions: none in an IMPRESSION cell; {in_files} exposure row(s) of readers who had "
        "one that day count only their own impressions",
    )


def compare_files(
    files: Mapping[str, list[tuple[str, bytes]]], truth: Mapping[tuple[str, str, str], tuple[int, int]]
) -> list[Any]:
    """What differs between the day files (per day: each test's file) and the readers' truth (:func:`truth_by_test`):
    a row's counts, a reader in several files, a reader shown a test's feed missing from its file, a file for
    a day no reader was shown its test's feed."""
    problems: list[Any] = []
    for day, found in sorted(files.items()):
        seen: Counter[str] = Counter()
        for experiment_id, data in found:
            if not any(d == day and e == experiment_id for d, e, _ in truth):
                problems.append((day, experiment_id, "no reader was shown this test's feed that day"))
            for r in csv.DictReader(io.StringIO(data.decode("utf-8"))):
                uid = r.get("user_id") or ""
                seen[uid] += 1
                want = truth.get((day, experiment_id, uid), (0, 0))
                got = (int(float(r.get("impressions") or 0)), int(float(r.get("clicks") or 0)))
                if got != want:
                    problems.append((day, experiment_id, uid, "want", want, "got", got))
            due = {uid for d, e, uid in truth if d == day and e == experiment_id}
            problems += [(day, uid, "missing") for uid in sorted(due - set(seen))]
        problems += [(day, uid, "in", n, "files") for uid, n in seen.items() if n > 1]
    return problems


def truth_by_test(world: World) -> dict[tuple[str, str, str], tuple[int, int]]:
    """Per (UTC day, test, reader): stories seen in impressions and clicks from a feed that carried the test
    (its ``experimentId``), as the readers made them: a reader counts in a test's day file only if shown that
    test's feed that day (docs/experiment.md, "Who counts as exposed")."""
    impressions: Counter[tuple[str, str, str]] = Counter()
    clicks: Counter[tuple[str, str, str]] = Counter()
    for imp in world.impressions:
        if captured(imp) and from_feed(imp.view.fields()) and imp.view.experiment_id:
            impressions[(imp.created.date().isoformat(), imp.view.experiment_id, imp.uid)] += len(imp.story_ids)
    for c in world.clicks:
        view = c.view
        if not c.hostile and accepted(c) and view is not None and from_feed(view.fields()) and view.experiment_id:
            clicks[(c.created.date().isoformat(), view.experiment_id, c.uid)] += 1
    return {k: (impressions[k], clicks[k]) for k in set(impressions) | set(clicks)}


ViewKey = tuple[str, tuple[tuple[str, str], ...], int]


def views_by_second(impressions: list[SentImpression]) -> dict[ViewKey, list[SentImpression]]:
    """Captured impressions by (reader, list attribution, whole second): the export's join key and resolution."""
    out: dict[ViewKey, list[SentImpression]] = {}
    for imp in impressions:
        if captured(imp):
            key = (imp.uid, tuple(sorted(imp.view.fields().items())), int(imp.created.timestamp()))
            out.setdefault(key, []).append(imp)
    return out


def tie_winner(
    click: SentClick, seen: SentImpression | None, same_second: dict[ViewKey, list[SentImpression]]
) -> SentImpression | None:
    """The impression docs/export.md's join gives ``click``: the view the reader clicked in (``seen``), unless a
    later view of the same list by the same reader fell in the click's own second (TIMESTAMP has whole seconds;
    ties go to the highest impression id, so the later view's)."""
    if seen is None or not captured(seen) or click.view is None:
        return seen
    key = (click.uid, tuple(sorted(click.view.fields().items())), int(click.created.timestamp()))
    later = [i for i in same_second.get(key, ()) if i.impression_id > seen.impression_id]
    return max(later, key=lambda i: i.impression_id) if later else seen


def expected_row(click: SentClick, impression: SentImpression | None) -> dict[str, str]:
    """The attribution cells of a click's exported row (docs/client.md, "What reaches Personalize")."""
    fields = click.view.fields() if click.view else {}
    source = fields.get("source", "")
    return {
        "RECOMMENDATION_ID": "" if source else fields.get("recommendationId", ""),
        "EVENT_ATTRIBUTION_SOURCE": source,
        "IMPRESSION": "|".join(impression.story_ids) if impression is not None and captured(impression) else "",
    }


def arms_seen(world: World) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Per (UTC day, reader): the (experimentId, arm) of every feed they saw something of."""
    out: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for imp in world.impressions:
        if captured(imp) and imp.view.list == "feed" and from_feed(imp.view.fields()):
            key = (imp.created.date().isoformat(), imp.uid)
            out.setdefault(key, set()).add((imp.view.experiment_id or "", imp.view.arm or ""))
    return out
