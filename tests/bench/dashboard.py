"""Benchmark the Trends page over a year of history, SQLite and PostgreSQL, against the old path in the same run.

The history: 9,000 hourly sweeps of 40 checks (the frozen story manifest, tests/fixtures/story_manifest.toml,
whose 32 checks are padded to 40 with eight more ``[[env]]`` variables), then two single-check re-runs.
Statuses evolve over the year: each check starts failing or pending, turns green at its own hour (some never
do), regresses now and then (``fail`` or a timeout's ``error`` for 1-36 hours), and skips while what it depends
on is not met. Verdicts come from the real :func:`checks.core.verdict.decide` with the waivers and attestations
in force at each run (decided once per distinct combination); weekly checkpoints through
:func:`checks.presentation.report_build.record_checkpoint`. Runs and results go in with one Core
``executemany`` per table into a database at migration 0003 (what a release before the rollups held), then the
migration to the head backfills the rollups (timed). The SQLite file is cached (``--cache``, default
``~/.cache/readiness-bench``) and reused while the generator and the migrations are unchanged; PostgreSQL gets a
copy of it in its own schema, kept for the next run under the same key.

Measured, each a min/median/max over ``--rounds`` interleaved rounds:

* ``old``: what the Trends page did before the rollups, outside Streamlit, on a fresh engine: every result
  (``results_frame``), the runs counted by a join, the heatmap and time to green from the results, the
  9,000-point trend; its four figures serialised as ``st.plotly_chart`` sends them (``figure_kib``);
* ``new.<period>``: what the page does now for each period (7, 30, 90 days, all), the same way;
* ``page``: the page itself in ``streamlit.testing.v1.AppTest``: ``cold`` with ``st.cache_data`` and
  ``st.cache_resource`` cleared (the first visitor after a restart: engine, migration check, manifest),
  ``warm`` a rerun with the caches kept; the bytes of the four charts' specs, what the browser receives;
* ``cpu_s``: this process's CPU time for the same work (on PostgreSQL the server's is not in it), steadier
  than the wall time when other work shares the machine;
* ``status_since``: the 40 checks' streaks read from ``check_streaks`` against the old scan of the results;
* SQLite only (on a scratch copy): ``record_run`` of one 40-check sweep with its rollups against the bare
  insert of the run and its results, and ``history prune --keep-days 90`` (time, file size after ``VACUUM``).

Run: python tests/bench/dashboard.py [--runs 9000] [--rounds 5] [--pg-url URL | --no-pg] [--cache DIR] [--fresh]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from checks import Attestation, Waiver, load_manifest  # noqa: E402
from checks.core.manifest import Manifest  # noqa: E402
from checks.core.result import CheckResult, Condition, Result  # noqa: E402
from checks.core.status import Severity, Status  # noqa: E402
from checks.core.verdict import decide  # noqa: E402
from checks.presentation.report_build import record_checkpoint  # noqa: E402
from checks.presentation.views import oauth, trends  # noqa: E402
from checks.storage.frames import _frame, _UTCStamp, results_frame  # noqa: E402
from checks.storage.history import OK_STATUSES, Store, _result_row  # noqa: E402
from checks.storage.schema import (  # noqa: E402
    AttestationRecord,
    CheckpointRecord,
    ResultRecord,
    RunRecord,
    WaiverRecord,
    make_engine,
    upgrade,
)

STORY_MANIFEST = ROOT / "tests" / "fixtures" / "story_manifest.toml"
DASH = ROOT / "dashboard"
END = datetime(2025, 10, 18, 9, 0, tzinfo=UTC)
"""The last sweep (the story's week 2); the dashboard's clock is pinned 30 minutes later."""
NOW = END + timedelta(minutes=30)
AIM_S = 0.7
"""Issue 13: Trends under 0.7 s server-side and under 150 KiB to the browser."""
AIM_KIB = 150
GENERATOR = 2
"""Bumped when the history's generator changes: the cache key."""
PERIODS = {"7d": 7, "30d": 30, "90d": 90, "all": None}
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHECKS = 40
BY = "rohan"

# Eight more variables a real deployment would also check, to reach 40 checks.
PADDING = [
    ("DATABASE_URL", "url", "blocking"),
    ("REDIS_URL", "url", "major"),
    ("PORTAL_BASE_URL", "url", "blocking"),
    ("OAUTH_CALLBACK_BASE_URL", "url", "blocking"),
    ("WEBHOOK_SIGNING_SECRET", "api_key", "major"),
    ("SENTRY_DSN", "url", "minor"),
    ("SMTP_URL", "url", "minor"),
    ("FEATURE_FLAGS_URL", "url", "minor"),
]


def write_manifest(directory: Path) -> Path:
    extra = "".join(
        f'\n[[env]]\nname = "{name}"\ntype = "{kind}"\ngroup = "Platform"\nitem = "environment.variables"\n'
        f'severity = "{severity}"\n'
        for name, kind, severity in PADDING
    )
    target = directory / "readiness.toml"
    target.write_text(STORY_MANIFEST.read_text() + extra)
    return target


# ------------------------------------------------------------------------------------------ history


def timelines(m: Manifest, n: int, rng: random.Random) -> dict[str, list[Status]]:
    """Each check's status in each of ``n`` hourly sweeps: failing or pending until its own hour of turning
    green (blocking checks all get there within the first three quarters; 15% of the others never do), a
    placeholder (``warn``) for a while for some variables, regressions now and then, ``skipped`` while a
    prerequisite is not met."""
    out: dict[str, list[Status]] = {}
    for c in m.all_checks:
        blocking = c.severity is Severity.BLOCKING
        before = Status.FAIL if c.kind == "env" or blocking else Status.PENDING
        if blocking:
            green = n * rng.uniform(0.02, 0.75)
        else:
            green = n * rng.uniform(0.05, 0.95) if rng.random() > 0.15 else float("inf")
        line = [Status.PASS if t >= green else before for t in range(n)]
        if green < n and c.kind == "env" and rng.random() < 0.3:  # a placeholder first
            for t in range(int(green), min(n, int(green + rng.uniform(24, 24 * 14)))):
                line[t] = Status.WARN
        for _ in range(rng.randint(0, 3 if blocking else 6)):  # a revoked key, a provider timing out
            if green >= n - 1:
                break
            start = int(rng.uniform(green, n))
            bad = Status.ERROR if rng.random() < 0.3 else Status.FAIL
            for t in range(start, min(n, start + rng.randint(1, 36))):
                line[t] = bad
        out[c.id] = line
    for c in m.all_checks:
        for dep in c.depends_on:
            line, parent = out[c.id], out[dep]
            for t in range(n):
                if not parent[t].ok:
                    line[t] = Status.SKIPPED
    return out


def outcome(c: Any, status: Status) -> tuple[str, dict[str, Any], str, tuple[Condition, ...]]:
    """What a check of ``c``'s kind reports for ``status``: summary, evidence, remediation, conditions."""
    p = c.params
    if status is Status.ERROR:
        summary = f"{c.id} timed out after 10.0 s"
        evidence: dict[str, Any] = {"timeout_s": 10.0, "error": "ReadTimeout"}
    elif c.kind == "env":
        var, kind = p["variable"], p.get("type", "string")
        evidence = {"variable": var, "type": kind, "source": "environment"}
        if status is Status.PASS:
            summary = f"{var} is set and looks like a {kind}"
            evidence["fingerprint"] = "sha256:" + hashlib.sha256(var.encode()).hexdigest()[:16]
        elif status is Status.WARN:
            summary = f"{var} is set but holds a placeholder"
        else:
            summary = f"{var} is not set: add it to the deployment's environment"
    else:
        evidence = {"item": c.item, "attested": status.value, "by": BY, "source": "attestation"}
        summary = f"{c.title}: {status.value}" + ("" if status.ok else f" (expected: {p.get('expect', 'attested')})")
    remediation = "" if status.ok else f"See the runbook for {c.item}; re-run the check when done."
    conditions = (Condition("present", status is not Status.FAIL, ""),) if c.kind == "env" else ()
    return summary, evidence, remediation, conditions


def build_history(url: str, m: Manifest, n: int, seed: int = 5) -> dict[str, Any]:
    """Write ``n`` hourly sweeps ending at END and two single-check re-runs into a fresh database at ``url`` at
    migration 0003, migrate it to the head (the rollups' backfill, timed), then add weekly checkpoints."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    engine = make_engine(url)
    upgrade(engine, "0003")
    store = Store(engine)
    area_of = {c.id: m.items_by_id[c.item].area for c in m.all_checks}
    lines = timelines(m, n, rng)
    first = END - timedelta(hours=n - 1)
    at = [first + timedelta(hours=t) for t in range(n)]

    # Attestations behind the OAuth checks, at the hours those turn green (the Gantt and the escalation).
    attestations: list[Attestation] = []
    for app, created, approved in [
        ("oauth.google", "oauth.google.submitted", "oauth.google.approved"),
        ("oauth.microsoft", "oauth.microsoft.created", "oauth.microsoft.approved"),
    ]:
        for check, status in [(created, "created"), (created, "submitted"), (approved, "approved")]:
            hit = next((t for t, s in enumerate(lines[check]) if s.ok), None)
            if hit is not None:
                when = at[hit] - timedelta(hours=1 if status != "submitted" else 0)
                attestations.append(Attestation(app, status, BY, when, effective=when.date()))
    for a in attestations:
        store.add_attestation(a)
    # The GHL proxy's validation waived for the ten days before it turned green ("validated next week").
    ghl = next((t for t, s in enumerate(lines["oauth.ghl.validated"]) if s.ok), n - 1)
    waiver = Waiver(
        "oauth.ghl.validated", "proxy validated next week", BY, at[ghl] + timedelta(days=2), at[max(0, ghl - 240)]
    )
    waivers = [store.add_waiver(waiver)]

    run_rows: list[dict[str, Any]] = []
    result_rows: list[dict[str, Any]] = []
    outcomes: dict[tuple[str, Status], tuple[str, dict[str, Any], str, tuple[Condition, ...]]] = {}
    verdicts: dict[tuple[Any, ...], Any] = {}
    limits = sorted({timedelta(days=e.when.older_than_days) for e in m.escalations})

    def add(run_id: str, started: datetime, statuses: list[tuple[Any, Status]], trigger: str) -> None:
        finished = started + timedelta(seconds=2)
        results = []
        for c, status in statuses:
            summary, evidence, remediation, conditions = outcomes.setdefault((c.id, status), outcome(c, status))
            observed = started + timedelta(seconds=1)
            result = Result(status, summary, evidence, remediation, conditions, rng.uniform(0.05, 40.0), observed)
            results.append(CheckResult(c.id, c.item, area_of[c.id], c.kind, c.severity, result))
        latest_atts = {a.item: a for a in attestations if a.at <= finished}
        in_force = tuple(w.id for w in waivers if w.in_force(finished))
        # The verdict depends only on the statuses, the waivers in force and the attestations' ages against
        # the escalation limits: decide once per distinct combination (a year holds a few thousand).
        key = (
            tuple(s for _, s in statuses),
            in_force,
            tuple((a.item, a.status, tuple(a.age(finished) > lim for lim in limits)) for a in latest_atts.values()),
        )
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = decide(m, results, now=finished, waivers=waivers, attestations=latest_atts)[0]
        waived = set(verdict.waived)
        run_rows.append(
            {
                "id": run_id,
                "seq": len(run_rows) + 1,  # recording order, as Store.record_run numbers runs
                "started_at": started,
                "finished_at": finished,
                "verdict": verdict.decision.value,
                "reasons": list(verdict.reasons),
                "manifest_digest": m.digest,
                "trigger": trigger,
                "areas": [a.to_dict() for a in verdict.areas],
                "escalations": [e.to_dict() for e in verdict.escalations],
                "criteria": [c.to_dict() for c in verdict.criteria],
            }
        )
        for r in results:
            row = _result_row(run_id, r)
            row["waived"] = r.id in waived
            result_rows.append(row)

    checks = m.all_checks
    ids: list[str] = []
    for t in range(n):
        ids.append(uuid.UUID(int=rng.getrandbits(128)).hex)
        add(ids[-1], at[t], [(c, lines[c.id][t]) for c in checks], "schedule")
    # Two "re-run this check" after the last sweep: the Overview lays them over it.
    for k, c in enumerate([checks[0], checks[-1]]):
        add(
            uuid.UUID(int=rng.getrandbits(128)).hex,
            at[-1] + timedelta(minutes=10 * (k + 1)),
            [(c, Status.PASS)],
            "dashboard",
        )
    generated = time.perf_counter() - t0

    t1 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.insert(RunRecord), run_rows)
        conn.execute(sa.insert(ResultRecord), result_rows)
    inserted = time.perf_counter() - t1
    t1 = time.perf_counter()
    upgrade(engine)  # 0004: the rollups backfilled from 360k results
    backfill = time.perf_counter() - t1
    for t in range(n - 1, -1, -168):  # weekly checkpoints, the last sweep's included
        record_checkpoint(
            m, store, ids[t], title=f"Checkpoint {at[t].date().isoformat()}", now=at[t] + timedelta(hours=1)
        )
    store.close()
    return {
        "runs": len(run_rows),
        "results": len(result_rows),
        "verdicts": {v: sum(1 for r in run_rows if r["verdict"] == v) for v in ("GO", "CONDITIONAL", "NO-GO")},
        "distinct_verdicts_decided": len(verdicts),
        "generate_s": round(generated, 2),
        "insert_s": round(inserted, 2),
        "migration_0004_backfill_s": round(backfill, 2),
        "total_s": round(time.perf_counter() - t0, 2),
    }


# -------------------------------------------------------------------------------------- the databases


def head_revision() -> str:
    versions = ROOT / "checks" / "storage" / "migrations" / "versions"
    return max(p.name.split("_", 1)[0] for p in versions.glob("[0-9]*_*.py"))


def cached_sqlite(cache: Path, m: Manifest, n: int, fresh: bool) -> tuple[Path, dict[str, Any]]:
    """The year on SQLite, built once per (runs, generator, head revision) and kept in ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"dashboard-{n}-g{GENERATOR}-{head_revision()}.db"
    meta = path.with_suffix(".json")
    if fresh or not (path.exists() and meta.exists()):
        for stale in (path, meta, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        built = build_history(f"sqlite:///{path}", m, n)
        meta.write_text(json.dumps(built))
        return path, {**built, "cached": False}
    return path, {**json.loads(meta.read_text()), "cached": True}


_PRE_0004_RUN_COLUMNS = [
    c for c in RunRecord.__table__.c if c.name not in {"passed", "total", "blocking_passed", "blocking_total"}
]


def pg_copy(sqlite_path: Path, base_url: str, n: int, fresh: bool) -> tuple[str, dict[str, Any]]:
    """The same year on PostgreSQL, in a schema of its own kept for the next run: copied from the SQLite file at
    migration 0003's columns, then migrated to the head (the backfill, timed on PostgreSQL)."""
    schema = f"bench_dashboard_{n}_g{GENERATOR}_{head_revision()}"
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    admin = sa.create_engine(base_url)
    with admin.begin() as conn:
        exists = conn.scalar(sa.text("select count(*) from pg_namespace where nspname = :s"), {"s": schema})
        if exists and not fresh:
            ready = conn.scalar(
                sa.text("select count(*) from information_schema.tables where table_schema = :s and table_name = :t"),
                {"s": schema, "t": "bench_ready"},
            )
            if ready:
                admin.dispose()
                return url, {"cached": True}
        conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
        conn.execute(sa.text(f'create schema "{schema}"'))
    admin.dispose()
    t0 = time.perf_counter()
    src = make_engine(f"sqlite:///{sqlite_path}")
    dst = make_engine(url)
    upgrade(dst, "0003")
    with src.connect() as s, dst.begin() as d:
        for table, columns in (
            (RunRecord.__table__, _PRE_0004_RUN_COLUMNS),
            (AttestationRecord.__table__, list(AttestationRecord.__table__.c)),
            (WaiverRecord.__table__, list(WaiverRecord.__table__.c)),
            (ResultRecord.__table__, list(ResultRecord.__table__.c)),
        ):
            result = s.execution_options(yield_per=20_000).execute(sa.select(*columns).order_by(columns[0]))
            for part in result.mappings().partitions():
                d.execute(sa.insert(table), [dict(row) for row in part])
        for name in ("results", "attestations", "waivers"):
            d.execute(sa.text(f"select setval(pg_get_serial_sequence('{name}', 'id'), (select max(id) from {name}))"))
        d.execute(sa.text("select setval('runs_seq', (select max(seq) from runs))"))
    copied = time.perf_counter() - t0
    t0 = time.perf_counter()
    upgrade(dst)
    backfill = time.perf_counter() - t0
    with src.connect() as s, dst.begin() as d:
        rows = [dict(r) for r in s.execute(sa.select(CheckpointRecord.__table__)).mappings()]
        d.execute(sa.insert(CheckpointRecord.__table__), rows)
        d.execute(sa.text("create table bench_ready (done int)"))
    src.dispose()
    dst.dispose()
    return url, {"cached": False, "copy_s": round(copied, 2), "migration_0004_backfill_s": round(backfill, 2)}


def pg_reachable(url: str) -> bool:
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


# ------------------------------------------------------------------------------------------ measure


def serialise(fig: Any) -> str:
    """What ``st.plotly_chart`` does with a figure: rebuild it validated, then serialise it."""
    import plotly.io as pio
    from plotly import tools

    return pio.to_json(tools.return_figure_from_figure_or_data(fig, True), validate=False)


def _count(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def old_runs_frame(store: Store) -> Any:
    """``runs_frame`` before migration 0004: every run's counts by a join over all its results."""
    r, run = ResultRecord, RunRecord
    ok = r.status.in_(OK_STATUSES)
    blocking = r.severity == Severity.BLOCKING.value
    stmt = (
        sa.select(
            run.id.label("run_id"),
            _UTCStamp(run.started_at).label("started_at"),
            _UTCStamp(run.finished_at).label("finished_at"),
            run.verdict,
            _count(ok).label("passed"),
            sa.func.count(r.id).label("total"),
            _count(sa.and_(ok, blocking)).label("blocking_passed"),
            _count(blocking).label("blocking_total"),
        )
        .outerjoin(r, r.run_id == run.id)
        .group_by(run.id)
        .order_by(run.started_at, run.seq)
    )
    frame = _frame(store, stmt, ["started_at", "finished_at"])
    for name in ("passed", "total", "blocking_passed", "blocking_total"):
        frame[name] = frame[name].astype("int64")
    return frame


def old_trends(url: str, m: Manifest) -> int:
    """The Trends page's server-side work before the rollups (dashboard/trends.py at 0aaa93f): bytes sent."""
    from checks.presentation import plots

    store = Store.open(url)
    try:
        runs = old_runs_frame(store)
        results = results_frame(store)
        marks = trends.checkpoint_points(store.checkpoints())
        freq = trends.heatmap_freq(runs["started_at"].iloc[0], runs["started_at"].iloc[-1])
        figs = [
            plots.blocking_trend(trends.blocking_share(runs), marks),
            plots.status_heatmap(trends.heatmap_frame(results, m, freq)),
            plots.time_to_green(trends.time_to_green(results, m, NOW)),
            plots.approval_gantt(oauth.gantt_rows(m, store.attestations(), NOW), now=NOW),
        ]
        return sum(len(serialise(f).encode()) for f in figs)
    finally:
        store.close()


def new_trends(url: str, m: Manifest, days: int | None) -> int:
    """The Trends page's server-side work now (dashboard/trends.py, outside Streamlit) for a period: bytes sent."""
    from checks.presentation import plots
    from checks.storage.frames import runs_frame
    from checks.storage.trend_frames import (
        checkpoint_runs_frame,
        daily_items_frame,
        daily_runs_frame,
        history_end,
        run_items_frame,
    )

    store = Store.open(url)
    try:
        end = history_end(store)
        assert end is not None
        start = trends.period_start(end, days)
        marks = [c for c in trends.checkpoint_marks(checkpoint_runs_frame(store)) if start is None or c.at >= start]
        items = daily_items_frame(store)
        if trends.per_run(days):
            runs = runs_frame(store, start)
            first = plots.blocking_trend(trends.blocking_share(runs), marks)
            freq = trends.heatmap_freq(runs["started_at"].iloc[0], runs["started_at"].iloc[-1])
            if freq == "h":
                heat = trends.heatmap_from_items(run_items_frame(store, start), m, freq)
            else:
                heat = trends.heatmap_from_days(trends.last_runs_from(items, start), m, freq)
        else:
            per_day = trends.from_day(daily_runs_frame(store), start)
            first = plots.blocking_trend_daily(trends.daily_share(per_day), marks)
            heat = trends.heatmap_from_days(trends.from_day(items, start), m, trends.daily_freq(per_day))
        figs = [
            first,
            plots.status_heatmap(heat),
            plots.time_to_green(trends.time_to_green_daily(items, m, NOW)),
            plots.approval_gantt(oauth.gantt_rows(m, store.attestations(), NOW), now=NOW),
        ]
        return sum(len(serialise(f).encode()) for f in figs)
    finally:
        store.close()


def page_render(label: str) -> tuple[float, float, float, int]:
    """The Trends page in AppTest for the period ``label``: cold (``st.cache_data`` and ``st.cache_resource``
    cleared, the same protocol for every period), warm (a rerun, caches kept), the cold render's CPU time (this
    process, every thread: less moved by other work on the machine than the wall time), the charts' bytes."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(DASH / "trends.py"), default_timeout=300)
    at.run()  # the page open at another period; then the visitor picks ``label`` with every cache cleared
    if label == trends.DEFAULT_PERIOD:
        at.radio(key="period").set_value("7 days").run()
    at.radio(key="period").set_value(label)
    st.cache_data.clear()
    st.cache_resource.clear()
    t0, c0 = time.perf_counter(), time.process_time()
    at.run()
    cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
    check(at)
    t0 = time.perf_counter()
    at.run()
    warm = time.perf_counter() - t0
    check(at)
    charts = at.get("plotly_chart")
    return cold, warm, cold_cpu, sum(len(c.proto.spec.encode()) for c in charts)


def check(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 4


def use(url: str, manifest: Path) -> None:
    os.environ.update(
        {
            "READINESS_DB_URL": url,
            "READINESS_MANIFEST": str(manifest),
            "READINESS_DASHBOARD_NOW": NOW.isoformat(),
            "READINESS_DASHBOARD_ROLE": "viewer",
            "READINESS_STANDINS_URL": "http://127.0.0.1:9",
        }
    )
    os.environ.pop("READINESS_DASHBOARD_USER", None)


def streaks(url: str, m: Manifest) -> tuple[float, float]:
    """``status_since`` of every check: from ``check_streaks`` now, and by the old scan of the results."""
    from checks.storage.rollups import scan_streak

    ids = [c.id for c in m.all_checks]
    store = Store.open(url)
    try:
        t0 = time.perf_counter()
        new = store.status_since(ids)
        t_new = time.perf_counter() - t0
        t0 = time.perf_counter()
        with store.engine.connect() as conn:
            old = {cid: s for cid in ids if (s := scan_streak(conn, cid)) is not None}
        t_old = time.perf_counter() - t0
        assert {k: (v[0].value, v[1]) for k, v in new.items()} == {k: (v["status"], v["since"]) for k, v in old.items()}
        return t_new, t_old
    finally:
        store.close()


def writes(path: Path, m: Manifest, rounds: int) -> dict[str, Any]:
    """On a scratch copy of the SQLite year: ``record_run`` with its rollups against the bare insert of the run
    and its results (the write before 0004), then ``history prune --keep-days 90``."""
    from checks.core.run import Run, Verdict
    from checks.storage.prune import prune

    store = Store.open(f"sqlite:///{path}")
    rng = random.Random(11)
    areas = {c.id: m.items_by_id[c.item].area for c in m.all_checks}
    with_rollups: list[float] = []
    bare: list[float] = []
    for k in range(rounds):
        for mode in ("rollups", "bare"):
            at = END + timedelta(hours=2 * k + (mode == "bare") + 1)
            results = [
                CheckResult(
                    c.id,
                    c.item,
                    areas[c.id],
                    c.kind,
                    c.severity,
                    Result(rng.choice([Status.PASS, Status.FAIL]), "s", observed_at=at),
                )
                for c in m.all_checks
            ]
            run = Run(uuid.uuid4().hex, at, at, m.digest, results, Verdict(decide(m, results, now=at)[0].decision, []))
            t0 = time.perf_counter()
            if mode == "rollups":
                store.record_run(run)
                with_rollups.append(time.perf_counter() - t0)
            else:
                with store.engine.begin() as conn:
                    seq = conn.scalar(sa.select(sa.func.max(RunRecord.seq))) + 1
                    conn.execute(
                        sa.insert(RunRecord),
                        {
                            "id": run.id,
                            "seq": seq,
                            "started_at": at,
                            "finished_at": at,
                            "verdict": run.verdict.decision.value,
                            "reasons": [],
                            "manifest_digest": m.digest,
                            "trigger": "schedule",
                            "areas": [],
                            "escalations": [],
                            "criteria": [],
                        },
                    )
                    conn.execute(sa.insert(ResultRecord), [_result_row(run.id, r) for r in results])
                bare.append(time.perf_counter() - t0)
    size = path.stat().st_size
    t0 = time.perf_counter()
    report = prune(store, 90, NOW)
    pruned = time.perf_counter() - t0
    store.close()
    return {
        "record_run_s": spread(with_rollups, 4),
        "bare_insert_s": spread(bare, 4),
        "prune_keep_90_days": {
            "s": round(pruned, 2),
            "runs_deleted": report.runs,
            "results_deleted": report.results,
            "older_runs_kept": report.kept_old,
            "db_mib_before": round(size / 2**20, 1),
            "db_mib_after": round(path.stat().st_size / 2**20, 1),
        },
    }


def spread(values: list[float], digits: int = 3) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def measure(url: str, m: Manifest, manifest_path: Path, rounds: int) -> dict[str, Any]:
    """Interleaved rounds on one database: the old path, the new per period, the page in AppTest."""
    times: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    labels = {"7d": "7 days", "30d": "30 days", "90d": "90 days", "all": "All"}
    use(url, manifest_path)
    page_render(trends.DEFAULT_PERIOD)  # warm up: imports, Streamlit's own first-run cost
    new_trends(url, m, 30)
    old_trends(url, m)
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        sizes["old"] = old_trends(url, m)
        times.setdefault("old", []).append(time.perf_counter() - t0)
        times.setdefault("old.cpu", []).append(time.process_time() - c0)
        for name, days in PERIODS.items():
            t0, c0 = time.perf_counter(), time.process_time()
            sizes[f"new.{name}"] = new_trends(url, m, days)
            times.setdefault(f"new.{name}", []).append(time.perf_counter() - t0)
            times.setdefault(f"new.{name}.cpu", []).append(time.process_time() - c0)
        for name in ("30d", "all"):
            cold, warm, cold_cpu, sent = page_render(labels[name])
            times.setdefault(f"page.{name}.cold", []).append(cold)
            times.setdefault(f"page.{name}.cold_cpu", []).append(cold_cpu)
            times.setdefault(f"page.{name}.warm", []).append(warm)
            sizes[f"page.{name}"] = sent
        new_s, old_s = streaks(url, m)
        times.setdefault("status_since.new", []).append(new_s)
        times.setdefault("status_since.old", []).append(old_s)
    kib = {k: round(v / 1024, 1) for k, v in sizes.items()}
    old_med = statistics.median(times["old"])
    out: dict[str, Any] = {
        "old": {"server_s": spread(times["old"]), "cpu_s": spread(times["old.cpu"]), "figure_kib": kib["old"]},
        "new": {
            name: {
                "server_s": spread(times[f"new.{name}"]),
                "cpu_s": spread(times[f"new.{name}.cpu"]),
                "figure_kib": kib[f"new.{name}"],
                "old_over_new": round(old_med / statistics.median(times[f"new.{name}"]), 1),
            }
            for name in PERIODS
        },
        "page": {
            name: {
                "cold_s": spread(times[f"page.{name}.cold"]),
                "cold_cpu_s": spread(times[f"page.{name}.cold_cpu"]),
                "warm_s": spread(times[f"page.{name}.warm"]),
                "charts_kib": kib[f"page.{name}"],
                "cold_under_aim": statistics.median(times[f"page.{name}.cold"]) < AIM_S,
                "charts_under_aim": kib[f"page.{name}"] < AIM_KIB,
            }
            for name in ("30d", "all")
        },
        "status_since_40_checks_s": {
            "check_streaks": spread(times["status_since.new"], 4),
            "old_scan": spread(times["status_since.old"], 4),
        },
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg-url", default=os.environ.get("READINESS_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "readiness-bench")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached histories")
    args = parser.parse_args()

    import logging
    import shutil

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    settings = {
        k: v
        for k, v in {"runs": args.runs, "rounds": args.rounds, "no_pg": args.no_pg}.items()
        if v != {"runs": 9000, "rounds": 5, "no_pg": False}[k]
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="readiness-bench-") as tmp:
        root = Path(tmp)
        manifest_path = write_manifest(root)
        m = load_manifest(manifest_path)
        assert len(m.all_checks) == CHECKS, len(m.all_checks)
        cached, built = cached_sqlite(args.cache, m, args.runs, args.fresh)
        work = root / "large.db"
        shutil.copyfile(cached, work)  # measured on a copy: the cache stays as built
        urls = {"sqlite": f"sqlite:///{work}"}
        history: dict[str, Any] = {
            "checks": CHECKS,
            "sqlite": built,
            "sqlite_db_mib": round(work.stat().st_size / 2**20, 1),
        }
        if not args.no_pg:
            if not pg_reachable(args.pg_url):
                sys.exit(f"PostgreSQL is not reachable at {sa.make_url(args.pg_url).render_as_string()}: --no-pg")
            urls["postgresql"], history["postgresql"] = pg_copy(cached, args.pg_url, args.runs, args.fresh)
        figures = {name: measure(url, m, manifest_path, args.rounds) for name, url in urls.items()}
        scratch = root / "scratch.db"
        shutil.copyfile(cached, scratch)
        sqlite_writes = writes(scratch, m, args.rounds)
        load = os.getloadavg()[0]

    print(
        json.dumps(
            {
                "benchmark": "dashboard",
                "command": "python tests/bench/dashboard.py",
                "settings": settings,
                "date": datetime.now(UTC).date().isoformat(),
                "history": history,
                "rounds": args.rounds,
                "aim": {"server_s": AIM_S, "figure_kib": AIM_KIB},
                "trends": figures,
                "sqlite_writes": sqlite_writes,
                "load_average_1m_end": round(load, 2),
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
