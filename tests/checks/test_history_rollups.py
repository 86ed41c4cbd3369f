"""The history's rollups (migration 0004) on SQLite and PostgreSQL: written with each run, backfilled by the
migration to the same values, and what ``status_since``, the lists and the frames read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from checks.core.result import CheckResult, Result
from checks.core.run import Decision, Run, Verdict
from checks.core.status import Severity, Status
from checks.storage.frames import area_frame, results_frame, runs_frame
from checks.storage.history import Store, _result_row
from checks.storage.schema import (
    CheckStreakRecord,
    DailyItemRecord,
    DailyRunRecord,
    ResultRecord,
    RunItemRecord,
    RunRecord,
    make_engine,
    upgrade,
)

T0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def cr(check_id: str, status: Status, at: datetime | None, item: str, area: str, severity=Severity.BLOCKING):
    return CheckResult(
        check_id, item, area, "env", severity, Result(status, f"{check_id} {status.value}", observed_at=at)
    )


def story() -> list[Run]:
    """Three days, a few runs a day: items going red, green, red again; a result without observed_at; a
    single-check re-run; a run of minor checks only (no blocking share)."""
    P, F, W, N, S, E = Status.PASS, Status.FAIL, Status.WARN, Status.PENDING, Status.SKIPPED, Status.ERROR
    plan = [
        (T0, {"g.app": F, "g.verified": N, "env.a": F, "env.b": W}),
        (T0 + 2 * H, {"g.app": P, "g.verified": N, "env.a": F, "env.b": P}),
        (T0 + 5 * H, {"g.app": E, "g.verified": S, "env.a": P, "env.b": P}),
        (T0 + 7 * H, {"g.app": P, "g.verified": P, "env.a": P, "env.b": P}),
        (T0 + 26 * H, {"g.app": P, "g.verified": P, "env.a": F, "env.b": P}),
        (T0 + 30 * H, {"env.a": P}),  # a re-run of one check
        (T0 + 50 * H, {"g.app": P, "g.verified": P, "env.a": P, "env.b": F}),
    ]
    items = {
        "g.app": ("google", "oauth"),
        "g.verified": ("google", "oauth"),
        "env.a": ("vars", "env"),
        "env.b": ("vars", "env"),
    }
    runs = []
    for n, (at, statuses) in enumerate(plan):
        results = [cr(k, s, at + timedelta(seconds=1), *items[k]) for k, s in statuses.items()]
        if n == 3:
            results.append(
                cr("manual.review", Status.PENDING, None, "review", "security", Severity.MINOR)
            )  # never observed
        decision = Decision.GO if all(s.ok for s in statuses.values()) else Decision.NO_GO
        runs.append(
            Run(uuid.uuid4().hex, at, at + timedelta(seconds=3), "sha256:abc", results, Verdict(decision, ["x"]))
        )
    minor = [cr("env.c", Status.FAIL, T0 + 51 * H, "vars", "env", Severity.MINOR)]
    runs.append(Run(uuid.uuid4().hex, T0 + 51 * H, T0 + 51 * H, "sha256:abc", minor, Verdict(Decision.GO, ["x"])))
    return runs


def _legacy_record(engine: sa.Engine, run: Run, seq: int) -> None:
    """A run as a release at migration 0003 recorded it: runs and results only."""
    v = run.verdict
    with engine.begin() as conn:
        conn.execute(
            sa.insert(RunRecord),
            {
                "id": run.id,
                "seq": seq,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "verdict": v.decision.value,
                "reasons": list(v.reasons),
                "manifest_digest": run.manifest_digest,
                "trigger": run.trigger,
                "areas": [],
                "escalations": [],
                "criteria": [],
            },
        )
        conn.execute(sa.insert(ResultRecord), [_result_row(run.id, r) for r in run.results])


def _rollup_rows(store: Store) -> dict[str, list[tuple]]:
    tables = {
        "daily_runs": (DailyRunRecord, [DailyRunRecord.day]),
        "daily_items": (DailyItemRecord, [DailyItemRecord.day, DailyItemRecord.item]),
        "check_streaks": (CheckStreakRecord, [CheckStreakRecord.check_id]),
        "run_items": (RunItemRecord, [RunItemRecord.run_id, RunItemRecord.item]),
    }
    out = {}
    with store.engine.connect() as conn:
        for name, (model, order) in tables.items():
            out[name] = [tuple(row) for row in conn.execute(sa.select(model.__table__).order_by(*order))]
        out["counts"] = [
            tuple(row)
            for row in conn.execute(
                sa.select(
                    RunRecord.id, RunRecord.passed, RunRecord.total, RunRecord.blocking_passed, RunRecord.blocking_total
                ).order_by(RunRecord.seq)
            )
        ]
    return out


def test_a_database_at_0003_upgraded_answers_as_one_recorded_at_0004(db_url, tmp_path):
    runs = story()
    old_engine = make_engine(db_url)
    upgrade(old_engine, "0003")
    for n, run in enumerate(runs, 1):
        _legacy_record(old_engine, run, n)
    old_engine.dispose()
    upgraded = Store.open(db_url)  # migrates to the head: the backfill

    fresh = Store.open(f"sqlite:///{tmp_path / 'fresh.db'}")
    for run in runs:
        fresh.record_run(run)
    try:
        assert _rollup_rows(upgraded) == _rollup_rows(fresh)
        for frame in (runs_frame, results_frame, area_frame):
            pd.testing.assert_frame_equal(frame(upgraded), frame(fresh))
        assert upgraded.status_since() == fresh.status_since()
        assert [(r.id, r.passed, r.total) for r in upgraded.runs()] == [(r.id, r.passed, r.total) for r in fresh.runs()]
        since = upgraded.status_since()
        assert since["g.app"] == (Status.PASS, T0 + 7 * H + timedelta(seconds=1))  # the error at +5 h broke it
        assert since["env.b"] == (Status.FAIL, T0 + 50 * H + timedelta(seconds=1))
        assert "manual.review" not in since
        runs_table = runs_frame(upgraded)
        assert runs_table[["passed", "total", "blocking_passed", "blocking_total"]].values.tolist()[0] == [1, 4, 1, 4]
        assert runs_table["blocking_total"].tolist()[-1] == 0
    finally:
        upgraded.close()
        fresh.close()


def test_daily_rollups_keep_the_days_last_run_and_when_an_item_last_went_green(db_url):
    with Store.open(db_url) as store:
        for run in story():
            store.record_run(run)
        with store.engine.connect() as conn:
            days = {r.day: r for r in conn.execute(sa.select(DailyRunRecord.__table__))}
            items = {(r.day, r.item): r for r in conn.execute(sa.select(DailyItemRecord.__table__))}
    first = days[T0.date()]
    assert (first.runs, first.go, first.no_go, first.last_verdict) == (4, 1, 3, "GO")
    assert (first.share_min, first.share_max, first.share_sum / first.blocking_runs) == (25.0, 100.0, 56.25)
    assert first.first_at == T0 and first.last_at == T0 + 7 * H
    google = items[(T0.date(), "google")]  # red, red (pending), red (error), green
    assert (google.runs, google.last_green, google.passed, google.total) == (4, True, 2, 2)
    assert google.red_last_at == T0 + 5 * H and google.green_after == T0 + 7 * H
    vars_ = items[(T0.date(), "vars")]  # red, red, green, green
    assert vars_.red_last_at == T0 + 2 * H and vars_.green_after == T0 + 5 * H
    third = days[(T0 + 50 * H).date()]
    assert (third.runs, third.blocking_runs) == (2, 1)  # the minor-only run has no blocking share
    last_vars = items[((T0 + 51 * H).date(), "vars")]
    assert (last_vars.passed, last_vars.total, last_vars.last_green, last_vars.green_after) == (0, 1, False, None)


def test_a_result_observed_before_the_streak_head_is_rescanned_from_the_results(db_url):
    # A backfilled run (recorded after, observed before) changes neither the current status nor its start.
    with Store.open(db_url) as store:
        for at, status in [(T0, Status.FAIL), (T0 + 2 * H, Status.PASS), (T0 + 3 * H, Status.PASS)]:
            store.record_run(
                Run(uuid.uuid4().hex, at, at, "d", [cr("a", status, at, "i", "x")], Verdict(Decision.GO, []))
            )
        late = T0 + H
        store.record_run(
            Run(uuid.uuid4().hex, late, late, "d", [cr("a", Status.PASS, late, "i", "x")], Verdict(Decision.GO, []))
        )
        assert store.status_since(["a"]) == {"a": (Status.PASS, T0 + H)}  # the streak now starts at the backfill
        store.record_run(
            Run(
                uuid.uuid4().hex,
                T0,
                T0,
                "d",
                [cr("a", Status.FAIL, T0 + 90 * timedelta(minutes=1), "i", "x")],
                Verdict(Decision.GO, []),
            )
        )
        assert store.status_since(["a"]) == {"a": (Status.PASS, T0 + 2 * H)}
        assert store.status_since([]) == {}


def test_two_stores_recording_into_one_day_at_once_count_every_run(db_url):
    # Two stores (two watchers, or the watcher and the dashboard) fold runs into the same day and the same
    # checks' streaks concurrently: every run is counted, none is lost to a race, nothing deadlocks.
    import threading

    n = 8
    stores = [Store.open(db_url) for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def record(s: Store, offset: int) -> None:
        try:
            start.wait()
            for k in range(n):
                at = T0 + timedelta(minutes=2 * k + offset)
                results = [cr(c, Status.PASS if k < n - 1 else Status.FAIL, at, "i", "x") for c in ("a", "b", "c")]
                s.record_run(Run(uuid.uuid4().hex, at, at, "d", results, Verdict(Decision.GO, [])))
        except BaseException as exc:  # noqa: BLE001  (reported below, in the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(s, m)) for m, s in enumerate(stores)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        with stores[0].engine.connect() as conn:
            day = conn.execute(sa.select(DailyRunRecord.__table__)).one()
            item = conn.execute(sa.select(DailyItemRecord.__table__)).one()
        assert (day.runs, day.go, item.runs) == (2 * n, 2 * n, 2 * n)
        assert day.last_at == T0 + timedelta(minutes=2 * (n - 1) + 1)
        last_fail = T0 + timedelta(minutes=2 * (n - 1))  # the first of the two last runs, both failing
        assert stores[1].status_since(["a", "b", "c"]) == {c: (Status.FAIL, last_fail) for c in ("a", "b", "c")}
    finally:
        for s in stores:
            s.close()
