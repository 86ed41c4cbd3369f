"""The history store on SQLite and PostgreSQL: round trips, facts, streaks, loaders, migrations."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from checks.core.facts import Attestation, Waiver
from checks.core.result import CheckResult, Condition, Result
from checks.core.run import AreaSummary, CriterionResult, Decision, EscalationHit, Run, Verdict
from checks.core.status import Severity, Status
from checks.storage.frames import area_frame, check_frame, results_frame, runs_frame
from checks.storage.history import RunSummary, Store
from checks.storage.schema import VERSION_TABLE, Base

T0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url):
    s = Store.open(db_url)
    yield s
    s.close()


def cr(
    check_id: str,
    status: Status,
    at: datetime,
    *,
    area: str = "oauth",
    severity: Severity = Severity.BLOCKING,
    waived: bool = False,
    evidence: dict | None = None,
) -> CheckResult:
    result = Result(
        status,
        f"{check_id} is {status.value}",
        evidence or {},
        remediation="" if status.ok else "fix it",
        duration_ms=12.5,
        observed_at=at,
    )
    return CheckResult(check_id, check_id.split(".")[0], area, "env", severity, result, waived)


def make_run(results: list[CheckResult], at: datetime, decision: Decision = Decision.NO_GO, **kw) -> Run:
    verdict = Verdict(decision, kw.pop("reasons", ["because"]), **kw)
    return Run(uuid.uuid4().hex, at, at + timedelta(seconds=3), "sha256:abc", results, verdict)


def test_round_trip_preserves_everything(store):
    local = timezone(timedelta(hours=2))
    results = [
        CheckResult(
            "google.app",
            "google",
            "oauth",
            "oauth_google",
            Severity.BLOCKING,
            Result(
                Status.FAIL,
                "Client secret rejected",
                {"http_status": 401, "nested": {"a": [1, 2]}},
                "Rotate the secret",
                (Condition("[STATUS] == 200", False, "got 401"),),
                41.25,
                datetime(2025, 10, 6, 11, 0, 1, 123456, tzinfo=local),
            ),
            waived=True,
        ),
        cr("env.vars", Status.PASS, T0, area="env", severity=Severity.MAJOR),
        CheckResult("manual.review", "review", "security", "manual", Severity.MINOR, Result(Status.PENDING, "waiting")),
    ]
    run = make_run(
        results,
        T0,
        Decision.CONDITIONAL,
        reasons=["Waived until 2025-10-20"],
        areas=[AreaSummary("oauth", "OAuth apps", Status.FAIL, 0, 1, "PARTIAL")],
        escalations=[EscalationHit("verify-7d", "google", T0 - timedelta(days=8), "Ana", "Pending", "call")],
        criteria=[CriterionResult("M1", "OAuth works", False, ["google.app"])],
        waived=["google.app"],
    )
    store.record_run(run)

    back = store.get_run(run.id)
    assert back == run
    assert [r.status for r in back.results] == [Status.FAIL, Status.PASS, Status.PENDING]
    assert back.results[0].result.evidence == {"http_status": 401, "nested": {"a": [1, 2]}}
    for ts in (
        back.started_at,
        back.finished_at,
        back.results[0].result.observed_at,
        back.verdict.escalations[0].since,
    ):
        assert ts.tzinfo is not None and ts.utcoffset() == timedelta(0)
    assert back.results[0].result.observed_at == datetime(2025, 10, 6, 9, 0, 1, 123456, tzinfo=UTC)
    assert back.results[2].result.observed_at is None
    assert store.status_since(["manual.review"]) == {}  # nothing observed, no streak
    assert back.to_json()["results"][0]["observed_at"] == "2025-10-06T09:00:01.123456+00:00"
    assert store.get_run("nope") is None


def test_latest_run_and_runs(store):
    assert store.latest_run() is None and store.runs() == []
    first = make_run([cr("a", Status.PASS, T0), cr("b", Status.WARN, T0), cr("c", Status.FAIL, T0)], T0)
    second = make_run([cr("a", Status.PASS, T0 + timedelta(days=1))], T0 + timedelta(days=1), Decision.GO)
    store.record_run(first)
    store.record_run(second)
    assert store.latest_run().id == second.id
    rows = store.runs()
    assert [r.id for r in rows] == [second.id, first.id]
    assert (rows[1].passed, rows[1].total, rows[0].verdict) == (2, 3, Decision.GO)
    assert rows[0].started_at == T0 + timedelta(days=1) and rows[0].started_at.tzinfo is not None
    assert [r.id for r in store.runs(limit=1)] == [second.id]


def _run_with_id(run_id: str, at: datetime, decision: Decision) -> Run:
    verdict = Verdict(decision, [decision.value])
    return Run(run_id, at, at + timedelta(seconds=3), "sha256:abc", [cr("a", Status.PASS, at)], verdict)


def test_the_latest_recorded_run_is_the_latest_whatever_the_clock_and_ids_say(store):
    # The demo's pinned clock: every run starts and ends at the same instant. Ids are chosen to sort the wrong
    # way (each newer one smaller), so a tie-break on the id puts the oldest first.
    ids = [f"run-{999 - n:04d}" for n in range(40)]
    for n, run_id in enumerate(ids):
        store.record_run(_run_with_id(run_id, T0, Decision.CONDITIONAL if n < 39 else Decision.NO_GO))
    latest = store.latest_run()
    assert (latest.id, latest.verdict.decision) == (ids[-1], Decision.NO_GO)
    assert [r.id for r in store.runs()] == ids[::-1]
    assert [r.id for r in store.runs(limit=3)] == ids[:-4:-1]


def test_a_run_recorded_later_is_later_even_when_it_started_earlier(store):
    # Insertion order, not the clock: a sweep recorded after another is the newer answer.
    late = _run_with_id(uuid.uuid4().hex, T0 + timedelta(hours=1), Decision.GO)
    store.record_run(late)
    early = _run_with_id(uuid.uuid4().hex, T0, Decision.NO_GO)
    store.record_run(early)
    assert store.latest_run().id == early.id
    assert [r.id for r in store.runs()] == [early.id, late.id]


def test_migration_numbers_existing_runs_in_start_order(db_url):
    from checks.storage.schema import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine, "0001")
    rows = [  # (id, started_at, finished_at): inserted out of order on purpose
        ("c", T0 + timedelta(hours=2), T0 + timedelta(hours=2)),
        ("b2", T0, T0 + timedelta(seconds=9)),
        ("b1", T0, T0 + timedelta(seconds=9)),
        ("a", T0, T0 + timedelta(seconds=1)),
        ("z", T0 - timedelta(days=1), T0),
    ]
    runs = sa.table(
        "runs",
        *(sa.column(n) for n in ("id", "verdict", "reasons", "manifest_digest", "trigger", "areas")),
        sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("finished_at", sa.DateTime(timezone=True)),
        sa.column("escalations"),
        sa.column("criteria"),
    )
    with engine.begin() as conn:
        for run_id, started, finished in rows:
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    started_at=started,
                    finished_at=finished,
                    verdict="NO-GO",
                    reasons="[]",
                    manifest_digest="sha256:abc",
                    trigger="cli",
                    areas="[]",
                    escalations="[]",
                    criteria="[]",
                )
            )
    upgrade(engine)
    engine.dispose()
    with Store.open(db_url) as store:
        with store.engine.connect() as conn:
            numbered = conn.execute(sa.text("select id, seq from runs order by seq")).all()
        assert numbered == [("z", 1), ("a", 2), ("b1", 3), ("b2", 4), ("c", 5)]
        assert store.latest_run().id == "c"
        fresh = _run_with_id("0-new", T0 - timedelta(days=30), Decision.GO)
        store.record_run(fresh)  # the next number, though it sorts first by time and by id
        assert store.latest_run().id == "0-new"
        assert [r.id for r in store.runs()] == ["0-new", "c", "b2", "b1", "a", "z"]


def test_latest_attestations_respects_at(store):
    a1 = store.add_attestation(Attestation("google", "submitted", "ana", T0, "sent", date(2025, 10, 3)))
    store.add_attestation(Attestation("google", "approved", "ana", T0 + timedelta(days=10)))
    store.add_attestation(Attestation("review", "approved", "bo", T0 + timedelta(days=1)))
    assert a1.id is not None

    assert store.latest_attestations(T0 - timedelta(seconds=1)) == {}
    at_start = store.latest_attestations(T0)
    assert at_start == {"google": a1}
    assert at_start["google"].effective == date(2025, 10, 3)
    assert at_start["google"].at.tzinfo is not None
    mid = store.latest_attestations(T0 + timedelta(days=2))
    assert {k: v.status for k, v in mid.items()} == {"google": "submitted", "review": "approved"}
    assert store.latest_attestations()["google"].status == "approved"
    assert [a.status for a in store.attestations("google")] == ["submitted", "approved"]
    assert len(store.attestations()) == 3


def test_waivers_in_force_expired_revoked(store):
    def waiver(check, days_from, days_until):
        return Waiver(check, "vendor delay", "ana", T0 + timedelta(days=days_until), T0 + timedelta(days=days_from))

    live = store.add_waiver(waiver("google.*", 0, 14))
    expired = store.add_waiver(waiver("twilio.number", -10, -1))
    future = store.add_waiver(waiver("retell.agent", 5, 20))
    revoked = store.add_waiver(Waiver("ghl.proxy", "x", "bo", T0 + timedelta(days=30), T0, extra={"ticket": "#65"}))
    assert revoked.extra == {"ticket": "#65"}
    store.revoke_waiver(revoked.id, "carol", T0 + timedelta(hours=1))

    assert [w.id for w in store.waivers()] == [expired.id, live.id, future.id]
    assert [w.id for w in store.waivers(active_at=T0 + timedelta(days=1))] == [live.id]
    assert [w.id for w in store.waivers(active_at=T0 + timedelta(days=6))] == [live.id, future.id]
    assert store.waivers(active_at=T0 + timedelta(days=14)) == [store.waivers()[2]]  # until is exclusive
    got = store.waivers(active_at=T0)[0]
    assert got == live and got.until.tzinfo is not None and got.in_force(T0)
    with pytest.raises(LookupError, match="already revoked"):
        store.revoke_waiver(revoked.id, "carol", T0)
    with pytest.raises(LookupError, match="no waiver"):
        store.revoke_waiver(9999, "carol", T0)


def test_checkpoints_and_decisions(store):
    run = make_run([cr("google.app", Status.FAIL, T0)], T0)
    store.record_run(run)
    w = store.add_waiver(Waiver("google.app", "vendor", "ana", T0 + timedelta(days=7), T0))
    a = store.add_attestation(Attestation("google", "submitted", "ana", T0, "form 7", effective=date(2025, 10, 3)))

    cp_id = store.record_checkpoint(run.id, T0 + timedelta(hours=1), "Week 41", [w], store.latest_attestations())
    (cp,) = store.checkpoints()
    assert cp.id == cp_id and cp.run_id == run.id and cp.title == "Week 41"
    assert cp.manifest_digest == "sha256:abc" and cp.decision is None
    assert cp.at == T0 + timedelta(hours=1) and cp.at.tzinfo is not None
    # The frozen record, written out: what the checkpoint report shows a week later.
    assert cp.snapshot["verdict"] == "NO-GO" and cp.snapshot["reasons"] == ["because"]
    (result,) = cp.snapshot["results"]
    assert {k: result[k] for k in ("id", "item", "area", "kind", "severity", "status", "summary", "waived")} == {
        "id": "google.app",
        "item": "google",
        "area": "oauth",
        "kind": "env",
        "severity": "blocking",
        "status": "fail",
        "summary": "google.app is fail",
        "waived": False,
    }
    assert cp.snapshot["waivers"] == [
        {
            "id": w.id,
            "check": "google.app",
            "reason": "vendor",
            "by": "ana",
            "until": "2025-10-13T09:00:00+00:00",
            "created_at": "2025-10-06T09:00:00+00:00",
        }
    ]
    assert cp.snapshot["attestations"] == [
        {
            "id": a.id,
            "item": "google",
            "status": "submitted",
            "by": "ana",
            "at": "2025-10-06T09:00:00+00:00",
            "note": "form 7",
            "effective": "2025-10-03",
        }
    ]

    store.record_decision(cp_id, Decision.CONDITIONAL, "release manager", T0 + timedelta(hours=2), "waiver holds")
    (cp,) = store.checkpoints()
    assert (cp.decision, cp.decided_by, cp.rationale) == ("CONDITIONAL", "release manager", "waiver holds")
    assert cp.decided_at == T0 + timedelta(hours=2) and cp.decided_at.tzinfo is not None

    later = store.record_checkpoint(run.id, T0 + timedelta(days=7), "Week 42", [], [])
    assert [c.id for c in store.checkpoints()] == [later, cp_id]
    with pytest.raises(LookupError):
        store.record_checkpoint("missing", T0, "x", [], [])
    with pytest.raises(LookupError):
        store.record_decision(9999, "GO", "x", T0, "")


def test_status_since_streaks(store):
    day = timedelta(days=1)
    history = [
        {"a": Status.PASS, "b": Status.FAIL, "c": Status.PENDING},
        {"a": Status.FAIL, "b": Status.FAIL, "c": Status.PASS},
        {"a": Status.FAIL, "b": Status.FAIL, "c": Status.PENDING},
        {"a": Status.FAIL, "c": Status.PENDING},  # b not run this time
    ]
    for i, statuses in enumerate(history):
        at = T0 + i * day
        store.record_run(make_run([cr(k, s, at + timedelta(minutes=1)) for k, s in statuses.items()], at))

    since = store.status_since(["a", "b", "c", "never"])
    assert since == {
        "a": (Status.FAIL, T0 + day + timedelta(minutes=1)),  # pass, fail, fail, fail: the first fail
        "b": (Status.FAIL, T0 + timedelta(minutes=1)),  # failing from the start
        "c": (Status.PENDING, T0 + 2 * day + timedelta(minutes=1)),  # broken by the pass on day 1
    }
    assert all(ts.tzinfo is not None for _, ts in since.values())
    assert store.status_since([]) == {}
    assert store.status_since(["b"]) == {"b": since["b"]}
    assert store.status_since() == since

    store.record_run(make_run([cr("a", Status.PASS, T0 + 5 * day)], T0 + 5 * day))
    assert store.status_since(["a"]) == {"a": (Status.PASS, T0 + 5 * day)}


def test_a_long_pending_streak_then_a_fresh_fail_does_not_escalate(store):
    from checks.core.verdict import decide
    from tests.checks.helpers import check_block, make_manifest

    rule = """
[[escalations]]
id = "still_failing"
title = "Failing for two days"
items = ["b.two"]
contact = "platform"
when = { status = ["fail"], older_than_days = 2 }
"""
    manifest = make_manifest(check_block("two", item="b.two"), extra=rule)
    day = timedelta(days=1)
    for i in range(10):  # pending every day for ten days
        store.record_run(make_run([cr("two", Status.PENDING, T0 + i * day)], T0 + i * day))
    fail_at = T0 + 10 * day
    store.record_run(make_run([cr("two", Status.FAIL, fail_at)], fail_at))
    assert store.status_since(["two"]) == {"two": (Status.FAIL, fail_at)}

    def escalations(now):
        latest = store.latest_run().results
        verdict, _ = decide(manifest, latest, now=now, status_since=store.status_since(["two"]))
        return [(e.rule, e.since) for e in verdict.escalations]

    assert escalations(fail_at + timedelta(hours=1)) == []
    store.record_run(make_run([cr("two", Status.FAIL, fail_at + 2 * day)], fail_at + 2 * day))
    assert escalations(fail_at + 2 * day) == [("still_failing", fail_at)]


def test_the_latest_status_is_the_latest_observed_then_the_latest_recorded(store):
    # A backfilled run (recorded after, observed before) does not become the current status; two results
    # observed at the same instant (the demo's pinned clock) are told apart by the order they were recorded.
    store.record_run(make_run([cr("a", Status.FAIL, T0 + timedelta(days=1))], T0 + timedelta(days=1)))
    store.record_run(make_run([cr("a", Status.PASS, T0)], T0))  # backfilled
    store.record_run(make_run([cr("b", Status.FAIL, T0)], T0))
    store.record_run(make_run([cr("b", Status.PASS, T0)], T0))  # same instant, recorded later
    assert store.status_since(["a", "b"]) == {
        "a": (Status.FAIL, T0 + timedelta(days=1)),
        "b": (Status.PASS, T0),
    }


def test_checkpoints_newest_first_by_time_then_by_recording(store):
    run = make_run([cr("a", Status.PASS, T0)], T0)
    store.record_run(run)
    later = store.record_checkpoint(run.id, T0 + timedelta(days=7), "Week 42", [], [])
    earlier = store.record_checkpoint(run.id, T0, "Week 41", [], [])  # recorded after, dated before
    first_tie = store.record_checkpoint(run.id, T0 + timedelta(days=14), "Week 43", [], [])
    second_tie = store.record_checkpoint(run.id, T0 + timedelta(days=14), "Week 43 again", [], [])
    assert [c.id for c in store.checkpoints()] == [second_tie, first_tie, later, earlier]


def _seed_for_frames(store):
    runs = []
    for i, (x, y) in enumerate([(Status.PASS, Status.FAIL), (Status.WARN, Status.PASS), (Status.FAIL, Status.ERROR)]):
        at = T0 + timedelta(days=i)
        run = make_run(
            [
                cr("google.app", x, at, area="oauth"),
                cr("env.vars", y, at, area="env", severity=Severity.MAJOR, waived=(i == 2)),
                cr("env.key", Status.PASS, at, area="env"),
            ],
            at,
        )
        store.record_run(run)
        runs.append(run)
    return runs


def _assert_utc(series):
    assert isinstance(series.dtype, pd.DatetimeTZDtype) and str(series.dt.tz) == "UTC"


def test_results_frame(store):
    empty = results_frame(store)
    cols = [
        "run_id",
        "started_at",
        "check_id",
        "item",
        "area",
        "kind",
        "severity",
        "status",
        "waived",
        "duration_ms",
    ]
    assert list(empty.columns) == cols and len(empty) == 0
    runs = _seed_for_frames(store)

    df = results_frame(store)
    assert list(df.columns) == cols and len(df) == 9
    _assert_utc(df["started_at"])
    assert df["started_at"].iloc[0] == pd.Timestamp(T0)
    assert df["run_id"].tolist()[:3] == [runs[0].id] * 3
    assert df["status"].tolist()[:3] == ["pass", "fail", "pass"]
    assert df["waived"].dtype == bool and df["waived"].sum() == 1
    assert df["duration_ms"].dtype == float and (df["duration_ms"] == 12.5).all()

    window = results_frame(store, since=T0 + timedelta(days=1), until=T0 + timedelta(days=2), checks=["google.app"])
    assert window["run_id"].tolist() == [runs[1].id] and window["status"].tolist() == ["warn"]


def test_runs_area_and_check_frames(store):
    runs = _seed_for_frames(store)

    rf = runs_frame(store)
    assert list(rf.columns) == [
        "run_id",
        "started_at",
        "finished_at",
        "verdict",
        "passed",
        "total",
        "blocking_passed",
        "blocking_total",
    ]
    _assert_utc(rf["started_at"])
    _assert_utc(rf["finished_at"])
    assert rf["run_id"].tolist() == [r.id for r in runs]
    assert rf["passed"].tolist() == [2, 3, 1]
    assert rf["total"].tolist() == [3, 3, 3]
    assert rf["blocking_passed"].tolist() == [2, 2, 1]
    assert rf["blocking_total"].tolist() == [2, 2, 2]
    assert (rf["finished_at"] - rf["started_at"] == pd.Timedelta(seconds=3)).all()
    assert rf["verdict"].tolist() == ["NO-GO"] * 3

    af = area_frame(store)
    assert list(af.columns) == ["run_id", "started_at", "area", "passed", "total", "share"]
    assert len(af) == 6
    _assert_utc(af["started_at"])
    env = af[af["area"] == "env"]
    assert env["passed"].tolist() == [1, 2, 1] and env["total"].tolist() == [2, 2, 2]
    assert env["share"].tolist() == [0.5, 1.0, 0.5]

    cf = check_frame(store, "google.app")
    assert list(cf.columns) == [
        "run_id",
        "started_at",
        "observed_at",
        "status",
        "severity",
        "waived",
        "summary",
        "remediation",
        "duration_ms",
    ]
    assert cf["status"].tolist() == ["pass", "warn", "fail"]
    assert cf["summary"].tolist()[2] == "google.app is fail"
    _assert_utc(cf["observed_at"])
    assert cf["observed_at"].iloc[1] == pd.Timestamp(T0 + timedelta(days=1))
    assert len(check_frame(store, "nothing")) == 0


def test_migrations_match_models(db_url, store):
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
        tables = set(sa.inspect(conn).get_table_names())
    history = {"runs", "results", "attestations", "waivers", "checkpoints", VERSION_TABLE}
    watch = {"watch_lease", "watch_alerts", "notifications"}  # readiness watch (migration 0003)
    rollups = {"run_items", "check_streaks", "daily_runs", "daily_items"}  # the history's rollups (migration 0004)
    assert tables == history | watch | rollups


def test_open_twice_is_idempotent(db_url):
    first = Store.open(db_url)
    first.add_attestation(Attestation("google", "created", "ana", T0))
    first.close()
    second = Store.open(db_url)
    try:
        assert len(second.attestations()) == 1
        with second.engine.connect() as conn:
            assert conn.scalar(sa.text(f"select version_num from {VERSION_TABLE}")) == "0004"
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        second.close()


def test_default_url_creates_readiness_dir(db_url, tmp_path, monkeypatch):
    # The default is SQLite whatever db_url says; READINESS_DB_URL, when set, wins.
    monkeypatch.chdir(tmp_path)
    store = Store.open()
    try:
        assert (tmp_path / ".readiness" / "readiness.db").exists()
        assert store.engine.dialect.name == "sqlite"
    finally:
        store.close()
    monkeypatch.setenv("READINESS_DB_URL", db_url)
    with Store.open() as from_env:
        assert from_env.engine.url.get_backend_name() == sa.make_url(db_url).get_backend_name()


def test_a_run_keeps_its_trigger_and_every_area_and_escalation_field(store):
    run = make_run(
        [cr("a", Status.PENDING, T0)],
        T0,
        areas=[AreaSummary("oauth", "OAuth apps", Status.PENDING, 1, 6, "PARTIAL", 2, 3)],
        escalations=[EscalationHit("verify-7d", "google", T0, "Ana", "Verification pending", "Call Google")],
    )
    run = Run(run.id, run.started_at, run.finished_at, run.manifest_digest, run.results, run.verdict, "schedule")
    store.record_run(run)
    back = store.get_run(run.id)
    assert back.trigger == "schedule"
    assert back.verdict.areas == [AreaSummary("oauth", "OAuth apps", Status.PENDING, 1, 6, "PARTIAL", 2, 3)]
    assert back.verdict.escalations == [
        EscalationHit("verify-7d", "google", T0, "Ana", "Verification pending", "Call Google")
    ]


def test_a_run_recorded_before_the_newer_fields_reads_back_with_their_defaults(store):
    # Areas without pending/not_checked, escalations without title/text and conditions without detail: the JSON
    # an older version wrote. They read back as zero and empty, never as None or a shifted field.
    result = Result(Status.FAIL, "down", conditions=(Condition("[STATUS] == 200", False, "got 500"),), observed_at=T0)
    run = make_run([CheckResult("a", "a", "oauth", "http", Severity.BLOCKING, result)], T0)
    store.record_run(run)
    from checks.storage.schema import ResultRecord, RunRecord

    older_area = {"id": "oauth", "title": "OAuth apps", "status": "fail", "passed": 0, "total": 1, "state": "NONE"}
    older_hit = {"rule": "r", "item": "a", "since": T0.isoformat(), "contact": "Ana"}
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(RunRecord).where(RunRecord.id == run.id).values(areas=[older_area], escalations=[older_hit])
        )
        conn.execute(
            sa.update(ResultRecord)
            .where(ResultRecord.run_id == run.id)
            .values(conditions=[{"name": "[STATUS] == 200", "passed": False}])
        )
    back = store.get_run(run.id)
    assert back.verdict.areas == [AreaSummary("oauth", "OAuth apps", Status.FAIL, 0, 1, "NONE", 0, 0)]
    assert back.verdict.escalations == [EscalationHit("r", "a", T0, "Ana", "", "")]
    assert back.results[0].result.conditions == (Condition("[STATUS] == 200", False, ""),)


def test_runs_lists_every_field_of_each_run(store):
    first = make_run([cr("a", Status.PASS, T0), cr("b", Status.FAIL, T0)], T0, reasons=["b fails"])
    second = make_run([cr("a", Status.PASS, T0)], T0 + timedelta(days=1), Decision.GO, reasons=["all pass"])
    second = Run(second.id, second.started_at, second.finished_at, "sha256:def", second.results, second.verdict, "ui")
    store.record_run(first)
    store.record_run(second)
    assert store.runs() == [
        RunSummary(
            second.id, T0 + timedelta(days=1), T0 + timedelta(days=1, seconds=3), Decision.GO, ["all pass"], "ui",
            "sha256:def", 1, 1,
        ),
        RunSummary(first.id, T0, T0 + timedelta(seconds=3), Decision.NO_GO, ["b fails"], "cli", "sha256:abc", 1, 2),
    ]  # fmt: skip


def test_run_seqs_number_runs_in_recording_order(store):
    ids = [f"run-{n}" for n in (3, 1, 2)]
    for run_id in ids:
        store.record_run(_run_with_id(run_id, T0, Decision.GO))
    assert store.run_seqs([*ids, "never-recorded"]) == {"run-3": 1, "run-1": 2, "run-2": 3}
    assert store.run_seqs(iter(["run-2"])) == {"run-2": 3}
    assert store.run_seqs([]) == {}


def test_attestations_are_ordered_by_when_they_were_made_not_when_recorded(store):
    late = store.add_attestation(Attestation("google", "approved", "ana", T0 + timedelta(days=3)))
    backfilled = store.add_attestation(Attestation("google", "submitted", "ana", T0, "entered late"))
    assert [a.id for a in store.attestations("google")] == [backfilled.id, late.id]
    assert [a.id for a in store.attestations()] == [backfilled.id, late.id]
    assert store.latest_attestations() == {"google": late}  # the backfilled one is older: it does not win
    assert store.latest_attestations(T0 + timedelta(days=1)) == {"google": backfilled}


def test_facts_made_at_the_same_instant_keep_their_recording_order(store):
    made = [store.add_attestation(Attestation("google", f"step {n}", "ana", T0)) for n in range(12)]
    assert [a.id for a in store.attestations("google")] == [a.id for a in made]
    assert store.latest_attestations() == {"google": made[-1]}
    waived = [store.add_waiver(Waiver(f"c{n}", "r", "ana", T0 + timedelta(days=1), T0)) for n in range(12)]
    assert [w.id for w in store.waivers()] == [w.id for w in waived]


def test_status_since_skips_a_check_never_observed_and_goes_on(store):
    store.record_run(make_run([cr("a", Status.FAIL, T0)], T0))
    assert store.status_since(["never", "a"]) == {"a": (Status.FAIL, T0)}


def test_lookups_of_missing_rows_say_what_to_do(store):
    with pytest.raises(LookupError) as no_run:
        store.record_checkpoint("missing", T0, "x", [], [])
    assert str(no_run.value) == "no run with id missing; `readiness history` lists the recorded runs"
    with pytest.raises(LookupError) as no_checkpoint:
        store.record_decision(9999, Decision.GO, "x", T0, "")
    assert str(no_checkpoint.value) == "no checkpoint with id 9999"
    with pytest.raises(LookupError) as no_waiver:
        store.revoke_waiver(9999, "carol", T0)
    assert str(no_waiver.value) == "no waiver with id 9999; `readiness waive --list` shows them"


def test_a_decision_given_as_text_is_stored_as_is(store):
    run = make_run([cr("a", Status.PASS, T0)], T0)
    store.record_run(run)
    cp_id = store.record_checkpoint(run.id, T0, "Week 41", [], [])
    store.record_decision(cp_id, "GO", "release manager", T0, "all green")
    assert store.checkpoints()[0].decision == "GO"


def test_sweeps_recording_at_once_on_postgresql_are_all_recorded_in_order(pg_url):
    # PostgreSQL numbers runs from its sequence: concurrent writers never draw the same number (a max + 1 would,
    # and one sweep's run would be lost to the unique index). SQLite has one writer at a time: not run there.
    import threading

    writers, each = 6, 8
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []
    with Store.open(pg_url) as store:

        def write(n: int) -> None:
            barrier.wait()
            for i in range(each):
                try:
                    store.record_run(_run_with_id(f"w{n}-{i}", T0, Decision.GO))
                except Exception as exc:  # noqa: BLE001 - collected and asserted below
                    failures.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        seqs = store.run_seqs([f"w{n}-{i}" for n in range(writers) for i in range(each)])
    assert len(seqs) == writers * each and len(set(seqs.values())) == writers * each


@pytest.mark.parametrize(
    ("effective", "shown"), [(None, None), (date(2025, 10, 13), "2025-10-13")], ids=["no-effective", "effective"]
)
def test_an_attestation_as_a_dict_shows_its_effective_date_only_when_given(effective, shown):
    at = datetime(2025, 10, 14, 9, 30, tzinfo=UTC)
    att = Attestation("oauth.google", "submitted", "rohan", at, note="sent", effective=effective)
    assert att.to_dict() == {
        "item": "oauth.google",
        "status": "submitted",
        "by": "rohan",
        "at": "2025-10-14T09:30:00+00:00",
        "note": "sent",
        "effective": shown,
    }


def test_a_run_reads_back_in_recorded_order_after_a_row_is_restored(store):
    """The report and the dashboard list a run's checks in the order the sweep recorded them. A row
    deleted and restored with its id (a data fix, a partial restore from a backup) goes to the end of
    PostgreSQL's heap and index, so only the ``ORDER BY`` keeps the order; SQLite's rowid order would
    hide a missing one."""
    results = [cr(f"oauth.c{i}", Status.PASS, T0 + timedelta(seconds=i)) for i in range(6)]
    run = make_run(results, T0)
    store.record_run(run)
    table = Base.metadata.tables["results"]
    with store.engine.begin() as conn:
        first = conn.execute(sa.select(table).where(table.c.run_id == run.id).order_by(table.c.id).limit(1)).one()
        conn.execute(sa.delete(table).where(table.c.id == first.id))
        conn.execute(sa.insert(table).values(**first._mapping))
    back = store.get_run(run.id)
    assert [r.id for r in back.results] == [f"oauth.c{i}" for i in range(6)]
