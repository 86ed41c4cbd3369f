"""Retention: ``readiness history prune`` on SQLite and PostgreSQL deletes old runs, keeps what the history needs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from checks.core.result import CheckResult, Result
from checks.core.run import Decision, Run, Verdict
from checks.core.status import Severity, Status
from checks.storage.frames import runs_frame
from checks.storage.history import Store
from checks.storage.prune import KEEP_LATEST, prune
from checks.storage.schema import DailyItemRecord, DailyRunRecord, ResultRecord, RunItemRecord
from tests.checks.test_terminal import readiness

NOW = datetime(2025, 12, 1, 12, 0, tzinfo=UTC)


def _run(at: datetime, status: Status = Status.PASS) -> Run:
    results = [
        CheckResult(c, "item", "area", "env", Severity.BLOCKING, Result(status, f"{c} {status.value}", observed_at=at))
        for c in ("a", "b")
    ]
    return Run(uuid.uuid4().hex, at, at, "sha256:abc", results, Verdict(Decision.GO, ["ok"]))


def _history(store: Store, days: int = 90, per_day: int = 2) -> list[Run]:
    runs = []
    for d in range(days, 0, -1):
        for k in range(per_day):
            at = NOW - timedelta(days=d) + timedelta(hours=k)
            runs.append(_run(at, Status.FAIL if d > 60 else Status.PASS))
            store.record_run(runs[-1])
    return runs


def _count(store: Store, model) -> int:
    with store.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(model))


def test_prune_keeps_recent_checkpointed_and_latest_runs_and_the_daily_rollups(db_url):
    with Store.open(db_url) as store:
        runs = _history(store)  # 180 runs, two a day for 90 days, failing until 60 days ago
        checkpointed = runs[10]
        store.record_checkpoint(checkpointed.id, checkpointed.started_at, "Week 2", [], [])
        days_before = _count(store, DailyRunRecord)
        daily_items = _count(store, DailyItemRecord)
        since_before = store.status_since()

        dry = prune(store, 30, NOW, dry_run=True)
        assert (dry.runs, dry.results, dry.dry_run) == (120 - 1, 2 * 119, True)  # 30 days kept = 60 runs
        assert len(store.runs()) == 180  # nothing deleted

        done = prune(store, 30, NOW)
        assert (done.runs, done.results, done.kept_old) == (119, 238, 1)
        kept = {r.id for r in store.runs()}
        assert kept == {checkpointed.id} | {r.id for r in runs[-60:]}
        assert _count(store, ResultRecord) == 2 * 61 and _count(store, RunItemRecord) == 61
        assert _count(store, DailyRunRecord) == days_before and _count(store, DailyItemRecord) == daily_items
        assert store.status_since() == since_before  # still passing since 60 days ago, not since the cutoff
        assert store.checkpoints()[0].run_id == checkpointed.id
        assert runs_frame(store)["started_at"].iloc[1] >= pd.Timestamp(NOW - timedelta(days=30))

        again = prune(store, 30, NOW)
        assert again.runs == 0


def test_prune_never_deletes_the_latest_runs_even_when_all_are_old(db_url):
    with Store.open(db_url) as store:
        runs = _history(store, days=40, per_day=2)
        report = prune(store, 1, NOW + timedelta(days=365))
        assert report.runs == 80 - KEEP_LATEST
        assert [r.id for r in store.runs()] == [r.id for r in reversed(runs[-KEEP_LATEST:])]
        with pytest.raises(ValueError):
            prune(store, -1, NOW)


def test_the_cli_prunes_says_what_and_dry_runs(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    now = datetime.now(UTC)
    with Store.open(url) as store:
        for d in range(120, 0, -1):
            store.record_run(_run(now - timedelta(days=d)))
    dry = readiness("history", "prune", "--keep-days", "30", "--dry-run", "--db", url, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would delete 70 runs and 140 results started before ")
    real = readiness("history", "prune", "--keep-days", "30", "--db", url, cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert (
        real.stdout.startswith("deleted 70 runs and 140 results") and "kept 21 older runs" in real.stdout
    )  # the 30th day back is just past the cutoff
    listed = readiness("history", "--format", "json", "--limit", "500", "--db", url, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.count('"run_id"') == 50


def test_the_cli_prune_fails_in_one_line(tmp_path):
    bad = readiness("history", "prune", "--keep-days", "-3", "--db", f"sqlite:///{tmp_path / 'h.db'}", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --keep-days -3: expected 0 or more days"
    down = readiness(
        "history", "prune", "--keep-days", "3", "--db", "postgresql+psycopg://u:hunter2@127.0.0.1:9/x", cwd=tmp_path
    )
    assert down.returncode == 2 and len(down.stderr.strip().splitlines()) == 1, down.stderr
    assert "hunter2" not in down.stderr and "Traceback" not in down.stderr


def test_pruning_where_no_history_was_recorded_creates_none(tmp_path):
    missing = tmp_path / "none" / "h.db"
    done = readiness("history", "prune", "--keep-days", "30", "--db", f"sqlite:///{missing}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no history recorded here: nothing to prune"
    assert not missing.exists() and not missing.parent.exists()
    default = readiness("history", "prune", "--keep-days", "30", "--dry-run", cwd=tmp_path)  # ./.readiness
    assert default.returncode == 0 and not (tmp_path / ".readiness").exists()
