"""The trends read from the rollups draw what they drew from every result, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from checks import load_manifest
from checks.core.result import CheckResult, Result
from checks.core.run import Decision, Run, Verdict
from checks.core.status import Status
from checks.presentation.views import trends
from checks.storage.frames import results_frame, runs_frame
from checks.storage.history import Store
from checks.storage.trend_frames import (
    checkpoint_runs_frame,
    daily_items_frame,
    daily_runs_frame,
    history_end,
    run_items_frame,
)

MANIFEST = Path(__file__).parents[1] / "fixtures" / "story_manifest.toml"
T0 = datetime(2025, 10, 1, 0, 30, tzinfo=UTC)
STEP = timedelta(hours=3)
RUNS = 8 * 12  # twelve days, a sweep every three hours


@pytest.fixture
def manifest():
    return load_manifest(MANIFEST)


@pytest.fixture
def history(db_url, manifest):
    """Every check flips between statuses at random (seeded), worse early, better late."""
    rng = random.Random(7)
    area = {i.id: i.area for i in manifest.items}
    statuses = [Status.PASS, Status.WARN, Status.FAIL, Status.PENDING, Status.SKIPPED, Status.ERROR]
    with Store.open(db_url) as store:
        for n in range(RUNS):
            at = T0 + n * STEP
            good = 0.3 + 0.65 * n / RUNS
            results = [
                CheckResult(
                    c.id,
                    c.item,
                    area[c.item],
                    c.kind,
                    c.severity,
                    Result(Status.PASS if rng.random() < good else rng.choice(statuses[1:]), "s", observed_at=at),
                )
                for c in manifest.all_checks
            ]
            decision = Decision.GO if all(r.result.status.ok for r in results) else Decision.NO_GO
            run = Run(uuid.uuid4().hex, at, at + timedelta(seconds=5), "d", results, Verdict(decision, []))
            store.record_run(run)
            if n % 30 == 29:
                store.record_checkpoint(run.id, at + timedelta(hours=1), f"Checkpoint {n}", [], [])
        yield store


def test_the_heatmaps_from_the_rollups_are_the_heatmap_from_every_result(history, manifest):
    results, items, days = results_frame(history), run_items_frame(history), daily_items_frame(history)
    for freq in ("h", "D", "7D"):
        old = trends.heatmap_frame(results, manifest, freq)
        pd.testing.assert_frame_equal(trends.heatmap_from_items(items, manifest, freq), old)
        if freq != "h":  # the daily rows hold each day's last run
            pd.testing.assert_frame_equal(trends.heatmap_from_days(days, manifest, freq), old)
        assert set(old["state"]) >= {"PARTIAL", "READY"}  # the history moves


def test_a_period_s_daily_heatmap_from_the_daily_rows_is_the_one_from_its_runs(history, manifest):
    # What the Trends page draws for 7 and 30 days: a cell per day, read from the daily rows instead of a row per
    # run and item; the period starts mid-day, so the first day keeps only what the runs from there on left.
    end = history_end(history)
    days = daily_items_frame(history)
    for period in (1, 4, 7):
        start = trends.period_start(end, period) + timedelta(minutes=90)
        items = run_items_frame(history, start)
        assert items["started_at"].min() >= pd.Timestamp(start)
        from_runs = trends.heatmap_from_items(items, manifest, "D")
        pd.testing.assert_frame_equal(
            trends.heatmap_from_days(trends.last_runs_from(days, start), manifest, "D"), from_runs
        )
    assert trends.last_runs_from(days, None) is days


def test_time_to_green_from_the_daily_rollups_is_the_one_from_every_result(history, manifest):
    now = T0 + RUNS * STEP
    old = trends.time_to_green(results_frame(history), manifest, now)
    new = trends.time_to_green_daily(daily_items_frame(history), manifest, now)
    pd.testing.assert_frame_equal(new, old)
    assert old["green"].any() and not old["green"].all()


def test_checkpoint_marks_from_the_runs_counts_are_those_from_the_snapshots(history):
    old = trends.checkpoint_points(history.checkpoints())
    assert len(old) == 3
    assert trends.checkpoint_marks(checkpoint_runs_frame(history)) == old


def test_a_period_loads_only_its_runs_and_long_ones_a_point_per_day(history):
    end = history_end(history)
    assert end == T0 + (RUNS - 1) * STEP
    start = trends.period_start(end, 7)
    runs = runs_frame(history, start)
    assert len(runs) == 7 * 8 + 1 and runs["started_at"].min() >= pd.Timestamp(start)
    items = run_items_frame(history, start)
    assert set(items["run_id"]) == set(runs["run_id"])
    days = trends.daily_share(daily_runs_frame(history))
    per_run = trends.blocking_share(runs_frame(history))
    assert len(days) == 12 and days["runs"].sum() == RUNS
    by_day = per_run.groupby(per_run["started_at"].dt.floor("D"))["share"]
    assert days["share"].round(6).tolist() == by_day.mean().round(6).tolist()
    assert days["low"].tolist() == by_day.min().tolist() and days["high"].tolist() == by_day.max().tolist()
    assert set(days["verdict"]) <= {"GO", "NO-GO"} and days["verdict"].iloc[0] == "NO-GO"
    assert trends.per_run(30) and not trends.per_run(90) and not trends.per_run(None)
    daily = daily_runs_frame(history)
    week = trends.from_day(daily, start)
    assert week["day"].iloc[0] == pd.Timestamp(start).floor("D") and len(week) == 8  # the start's day included
    assert trends.from_day(daily, None) is daily and trends.daily_freq(daily) == "D"
