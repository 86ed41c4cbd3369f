"""The analysis API, on history made by the real engine over fixed dates (SQLite and PostgreSQL).

A small manifest whose checks are generated from environment variables, so each sweep's statuses follow
from which variables are set (runs at T0, +6 h, +30 h, +48 h):

    ALPHA (a.one)  fail  fail  pass  pass    green after 30 h
    DELTA (a.one)  fail  pass  pass  pass    green after 6 h
    BETA  (b.two)  pass  fail  pass  pass    2 flips; a regression recovered in 24 h
    GAMMA (b.two)  fail  fail  fail  fail    never green; waived from +1 h to +40 h
    ETA   (b.two)  pass  pass  pass  fail    a regression not recovered; waived by env.ET* from +40 h

plus ``probe.slow`` (kind ``fixed`` from the test kinds, sleeping 20 ms) for latency.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from checks import FixedClock, Waiver, load_manifest, sweep
from checks.core.errors import ReadinessError
from checks.core.registry import get_registry
from checks.presentation.analysis import (
    CHANGE_KINDS,
    changes_frame,
    checkpoint_diff,
    flaky_checks,
    latency_samples,
    provider_latency,
    recovery_times,
    time_to_green,
    waiver_use,
    write_html,
)
from checks.presentation.report_build import record_checkpoint
from checks.shell.notebook import checkpoint_report
from checks.storage.frames import results_frame
from checks.storage.history import Store
from tests.checks import kinds_for_tests
from tests.checks.helpers import check_block, make_manifest

T0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
TIMES = [T0, T0 + 6 * H, T0 + 30 * H, T0 + 48 * H]
SET = {  # which variables are set in each run
    "ALPHA": [False, False, True, True],
    "DELTA": [False, True, True, True],
    "BETA": [True, False, True, True],
    "GAMMA": [False, False, False, False],
    "ETA": [True, True, True, False],
}
ITEMS = {"ALPHA": "a.one", "DELTA": "a.one", "BETA": "b.two", "GAMMA": "b.two", "ETA": "b.two"}
ENV = "".join(f'\n[[env]]\nname = "{n}"\nitem = "{i}"\n' for n, i in ITEMS.items())
MANIFEST = make_manifest(
    check_block("probe.slow", kind="fixed", item="a.one", severity="minor", sleep_s=0.02), extra=ENV
)


def registry():
    reg = get_registry(load_plugins=False)
    reg.add_module(kinds_for_tests, "tests")
    return reg


def run_at(store, n, manifest=MANIFEST):
    environ = {name: "value" for name, on in SET.items() if on[n]}
    return sweep(
        manifest, store=store, clock=FixedClock(TIMES[n]), environ=environ, env_file=os.devnull, registry=registry()
    )


@pytest.fixture
def store(db_url):
    s = Store.open(db_url)
    yield s
    s.close()


@pytest.fixture
def history(store):
    store.add_waiver(Waiver("env.GAMMA", "owner on leave", "rohan", T0 + 40 * H, T0 + 1 * H))
    store.add_waiver(Waiver("env.ET*", "rotating", "mia", T0 + 200 * H, T0 + 40 * H))
    for n in range(len(TIMES)):
        run_at(store, n)
    store.revoke_waiver(store.waivers()[-1].id, "rohan", T0 + 50 * H)
    return store


def rows(frame, key):
    return {row[key]: row for row in frame.to_dict("records")}


# ------------------------------------------------------------------------------------------ time to green


def test_time_to_green_per_check(history):
    ttg = time_to_green(history, by="check")
    assert list(ttg.columns) == [
        "check_id",
        "item",
        "area",
        "first_seen",
        "first_red",
        "green_at",
        "hours",
        "green_now",
        "runs",
    ]
    by = rows(ttg, "check_id")
    assert by["env.ALPHA"]["hours"] == 30.0  # fails at T0, passes at T0 + 30 h
    assert by["env.ALPHA"]["first_red"] == pd.Timestamp(T0) and by["env.ALPHA"]["green_at"] == pd.Timestamp(TIMES[2])
    assert by["env.DELTA"]["hours"] == 6.0
    assert by["env.BETA"]["hours"] == 24.0  # first not-pass at +6 h, green again at +30 h
    assert math.isnan(by["env.GAMMA"]["hours"]) and pd.isna(by["env.GAMMA"]["green_at"])
    assert not by["env.GAMMA"]["green_now"]
    # ETA passed, then failed at +48 h and has not passed since: counted from its first failure
    assert by["env.ETA"]["first_red"] == pd.Timestamp(TIMES[3]) and math.isnan(by["env.ETA"]["hours"])
    assert not by["env.ETA"]["green_now"]
    assert by["probe.slow"]["hours"] == 0.0 and by["probe.slow"]["runs"] == 4
    assert by["env.ALPHA"]["item"] == "a.one" and by["env.ALPHA"]["area"] == "a"


def test_time_to_green_per_item_and_area(history):
    items = rows(time_to_green(history), "item")
    assert set(items) == {"a.one", "b.two"}
    assert items["a.one"]["hours"] == 30.0 and items["a.one"]["green_now"]  # ALPHA is the last to pass
    assert math.isnan(items["b.two"]["hours"]) and not items["b.two"]["green_now"]  # GAMMA never does
    areas = time_to_green(history, by="area")
    assert list(areas.columns)[:2] == ["area", "first_seen"]
    assert rows(areas, "area")["a"]["hours"] == 30.0
    titled = time_to_green(history, by="area", manifest=MANIFEST)
    assert list(titled["title"]) == ["Area A", "Area B"] and list(titled.columns)[-1] == "title"
    assert rows(time_to_green(history, manifest=MANIFEST), "item")["a.one"]["title"] == "Item one"
    with pytest.raises(ValueError, match="by: expected"):
        time_to_green(history, by="owner")


# ------------------------------------------------------------------------------------ flaky and recovery


def test_flaky_checks_count_flips_between_consecutive_runs(history):
    flaky = flaky_checks(history)
    assert list(flaky["check_id"]) == ["env.BETA"]  # pass, fail, pass, pass: 2 flips
    beta = flaky.iloc[0]
    assert (beta["flips"], beta["runs"], beta["changes"]) == (2, 4, 2)
    assert beta["flip_rate"] == pytest.approx(2 / 3)
    assert beta["last_status"] == "pass" and beta["kind"] == "env"
    everything = rows(flaky_checks(history, min_flips=0), "check_id")
    assert everything["env.ALPHA"]["flips"] == 1 and everything["env.ETA"]["flips"] == 1
    assert everything["env.GAMMA"]["flips"] == 0 and everything["env.GAMMA"]["flip_rate"] == 0.0


def test_recovery_times(history):
    rec = recovery_times(history)
    assert list(rec.columns) == [
        "check_id",
        "item",
        "area",
        "severity",
        "status",
        "regressed_at",
        "recovered_at",
        "hours",
        "recovered",
    ]
    assert list(rec["check_id"]) == ["env.BETA", "env.ETA"]  # oldest regression first
    beta, eta = rec.iloc[0], rec.iloc[1]
    assert beta["regressed_at"] == pd.Timestamp(TIMES[1]) and beta["recovered_at"] == pd.Timestamp(TIMES[2])
    assert beta["hours"] == 24.0 and beta["recovered"] and beta["status"] == "fail"
    assert eta["regressed_at"] == pd.Timestamp(TIMES[3]) and pd.isna(eta["recovered_at"])
    assert math.isnan(eta["hours"]) and not eta["recovered"]


# --------------------------------------------------------------------------------------------- latency


def test_provider_latency(history):
    slow = provider_latency(history)  # env and manual call no provider: only the probe
    assert list(slow.columns) == ["check_id", "kind", "count", "p50", "p90", "p99", "max"]
    assert list(slow["check_id"]) == ["probe.slow"]
    row = slow.iloc[0]
    assert row["count"] == 4 and row["kind"] == "fixed"
    assert 20.0 <= row["p50"] <= row["p90"] <= row["p99"] <= row["max"]
    durations = results_frame(history, checks=["probe.slow"])["duration_ms"]
    assert row["max"] == durations.max() and row["p50"] == pytest.approx(durations.median())

    kinds = provider_latency(history, by="kind", exclude_kinds=())
    assert list(kinds.columns) == ["kind", "count", "p50", "p90", "p99", "max"]
    assert list(kinds["kind"]) == ["fixed", "env"]  # slowest p90 first
    assert rows(kinds, "kind")["env"]["count"] == 5 * 4
    samples = latency_samples(history)
    assert list(samples.columns) == ["check_id", "kind", "started_at", "status", "duration_ms"]
    assert len(samples) == 4


# --------------------------------------------------------------------------------------------- waivers


def test_waiver_use(history):
    use = waiver_use(history, now=T0 + 35 * H)
    assert list(use.columns) == [
        "waiver_id",
        "check",
        "reason",
        "by",
        "created",
        "until",
        "revoked",
        "days",
        "in_force_now",
        "times_used",
    ]
    gamma, eta = use.iloc[0], use.iloc[1]
    assert gamma["check"] == "env.GAMMA" and gamma["by"] == "rohan"
    assert gamma["days"] == pytest.approx(39 / 24) and gamma["in_force_now"]
    assert gamma["times_used"] == 2  # the runs at +6 h and +30 h; T0 is before it, +48 h after it
    assert eta["check"] == "env.ET*" and eta["times_used"] == 1  # ETA's failure at +48 h
    assert eta["revoked"] == pd.Timestamp(T0 + 50 * H) and not eta["in_force_now"]
    later = waiver_use(history, now=T0 + 60 * H)
    assert not later["in_force_now"].any()  # one expired, one revoked


def test_empty_history_gives_empty_frames_with_the_columns(store):
    for frame, first in [
        (time_to_green(store), "item"),
        (time_to_green(store, by="check"), "check_id"),
        (flaky_checks(store), "check_id"),
        (recovery_times(store), "check_id"),
        (provider_latency(store), "check_id"),
        (provider_latency(store, by="kind"), "kind"),
        (waiver_use(store), "waiver_id"),
        (checkpoint_diff(store, MANIFEST), "check_id"),
    ]:
        assert frame.empty and frame.columns[0] == first


# ------------------------------------------------------------------------------------------ checkpoints


def test_checkpoint_diff_between_the_latest_two_checkpoints(store):
    for n in range(len(TIMES)):
        run_at(store, n)
        record_checkpoint(MANIFEST, store, title=f"run {n}", now=TIMES[n] + H)
    diff = checkpoint_diff(store, MANIFEST)  # run 2 -> run 3: ETA regressed, GAMMA still blocking
    assert diff.attrs == {"baseline": "run 2", "current": "run 3"}
    assert set(diff["change"]) <= set(CHANGE_KINDS)
    changes = {(r["check_id"], r["change"]) for r in diff.to_dict("records")}
    assert changes == {("env.ETA", "regressed"), ("env.GAMMA", "still_blocking")}
    eta = rows(diff, "check_id")["env.ETA"]
    assert (eta["before"], eta["after"], eta["severity"]) == ("pass", "fail", "blocking")

    earlier = checkpoint_diff(store, MANIFEST, as_of=TIMES[2] + 2 * H)  # run 1 -> run 2
    changes = {(r["check_id"], r["change"]) for r in earlier.to_dict("records")}
    assert {("env.ALPHA", "newly_green"), ("env.BETA", "newly_green"), ("env.GAMMA", "still_blocking")} == changes

    one = checkpoint_diff(store, MANIFEST, as_of=TIMES[0] + 2 * H)
    assert one.empty and one.attrs == {"baseline": None, "current": "run 0"}


def test_checkpoint_report_as_of_a_date_and_its_html(store, tmp_path):
    store.add_waiver(Waiver("env.GAMMA", "owner on leave", "rohan", T0 + 40 * H, T0 + 1 * H))
    for n in range(len(TIMES)):
        run_at(store, n)
        record_checkpoint(MANIFEST, store, title=f"run {n}", now=TIMES[n] + H)
    latest = checkpoint_report(MANIFEST, store, clock=FixedClock(T0 + 72 * H))
    assert latest.run.started_at == TIMES[3]
    day = checkpoint_report(MANIFEST, store, "2025-10-07", clock=FixedClock(T0 + 72 * H))
    assert day.run.started_at == TIMES[2]  # the last run on Oct 7 (+30 h is Oct 7 15:00)
    assert day.generated_at == datetime(2025, 10, 7, 23, 59, 59, tzinfo=UTC)
    frame = changes_frame(day.changes)  # against the checkpoint of the run before
    assert {("env.ALPHA", "newly_green"), ("env.BETA", "newly_green")} <= set(
        zip(frame.check_id, frame.change, strict=True)
    )
    with pytest.raises(ReadinessError, match="no run recorded on or before 2025-10-01"):
        checkpoint_report(MANIFEST, store, date(2025, 10, 1))

    assert write_html(day, store, None) is None
    out = write_html(day, store, tmp_path / "out" / "report.html")
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and 'id="trend-chart"' in html and day.decision.value in html


def test_checkpoint_report_can_sweep_first(store, tmp_path):
    manifest_path = tmp_path / "readiness.toml"
    manifest_path.write_text(make_manifest_text())
    manifest = load_manifest(manifest_path)
    report = checkpoint_report(manifest, store, run_sweep=True, clock=FixedClock(T0), environ={"ALPHA": "x"})
    assert report.run.started_at == T0 and report.run.trigger == "notebook"
    assert [r.status.value for r in report.run.results] == ["pass"]
    assert len(store.runs()) == 1


def make_manifest_text():
    from tests.checks.helpers import HEAD

    return HEAD + '\n[[env]]\nname = "ALPHA"\nitem = "a.one"\n'
