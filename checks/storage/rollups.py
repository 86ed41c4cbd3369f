"""The history's rollups, written in the transaction that records a run (migration 0004 backfills them).

* the run's counts (``runs.passed``, ``total``, ``blocking_passed``, ``blocking_total``);
* ``run_items``: the run's results counted per item;
* ``daily_runs`` / ``daily_items``: the run folded into its UTC day (an upsert: atomic on PostgreSQL when two
  runs land at once), the long ranges of the trends, kept by ``readiness history prune``;
* ``check_streaks``: each check's current status and since when, so ``status_since`` reads one row per check.

A result observed before the check's newest one (a backfilled run) makes its streak be rescanned from the
results (after ``history prune``, from those kept); the daily rows assume runs arrive in time order within a
day (``green_after`` is then exact). Concurrent recorders (two watchers, a dashboard re-run) lock the streak rows
in check-id order and upsert the day rows, so neither loses the other's run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from checks.core.clock import utc
from checks.core.result import CheckResult
from checks.core.status import Severity, Status
from checks.storage.schema import CheckStreakRecord, DailyItemRecord, DailyRunRecord, ResultRecord, RunItemRecord


@dataclass(frozen=True)
class RunCounts:
    passed: int
    total: int
    blocking_passed: int
    blocking_total: int

    def as_row(self) -> dict[str, int]:
        return {
            "passed": self.passed,
            "total": self.total,
            "blocking_passed": self.blocking_passed,
            "blocking_total": self.blocking_total,
        }


def counts(results: Sequence[CheckResult]) -> RunCounts:
    """A run's results counted: met (``pass``/``warn``) of all, and the same over blocking checks."""
    blocking = [r for r in results if r.severity is Severity.BLOCKING]
    return RunCounts(
        sum(1 for r in results if r.result.status.ok),
        len(results),
        sum(1 for r in blocking if r.result.status.ok),
        len(blocking),
    )


def record(
    conn: sa.Connection, run_id: str, started_at: datetime, verdict: str, results: Sequence[CheckResult]
) -> None:
    """Write the rollups of a run already inserted with :func:`counts` (same transaction)."""
    items = _items(run_id, results)
    if items:
        conn.execute(sa.insert(RunItemRecord), items)
    _fold_day(conn, started_at, verdict, counts(results))
    _fold_items(conn, started_at, items)
    _advance_streaks(conn, results)


# ------------------------------------------------------------------------------------------ per run


def _items(run_id: str, results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        row = out.setdefault(
            r.item,
            {"run_id": run_id, "item": r.item, "area": r.area, "passed": 0, "total": 0, "waiting": 0, "pending": 0},
        )
        status = r.result.status
        row["total"] += 1
        row["passed"] += status.ok
        row["waiting"] += status in (Status.PENDING, Status.SKIPPED)
        row["pending"] += status is Status.PENDING
    return list(out.values())


# ------------------------------------------------------------------------------------------- daily


def _upsert(conn: sa.Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _least(a: Any, b: Any) -> Any:
    """``b`` when ``a`` is NULL or larger (portable: SQLite's min() and PostgreSQL's LEAST differ on NULL)."""
    return sa.case((sa.or_(a.is_(None), b < a), b), else_=a)


def _greatest(a: Any, b: Any) -> Any:
    return sa.case((sa.or_(a.is_(None), b > a), b), else_=a)


def _fold_day(conn: sa.Connection, at: datetime, verdict: str, c: RunCounts) -> None:
    share = 100.0 * c.blocking_passed / c.blocking_total if c.blocking_total else None
    row = {
        "day": at.date(),
        "runs": 1,
        "first_at": at,
        "last_at": at,
        "last_verdict": verdict,
        "go": int(verdict == "GO"),
        "conditional": int(verdict == "CONDITIONAL"),
        "no_go": int(verdict not in ("GO", "CONDITIONAL")),
        "blocking_runs": int(share is not None),
        "share_sum": share or 0.0,
        "share_min": share,
        "share_max": share,
    }
    d = DailyRunRecord.__table__.c
    stmt = _upsert(conn, DailyRunRecord)
    new = stmt.excluded
    later = new.last_at >= d.last_at
    stmt = stmt.on_conflict_do_update(
        index_elements=[d.day],
        set_={
            "runs": d.runs + 1,
            "first_at": sa.case((new.first_at < d.first_at, new.first_at), else_=d.first_at),
            "last_at": sa.case((later, new.last_at), else_=d.last_at),
            "last_verdict": sa.case((later, new.last_verdict), else_=d.last_verdict),
            "go": d.go + new.go,
            "conditional": d.conditional + new.conditional,
            "no_go": d.no_go + new.no_go,
            "blocking_runs": d.blocking_runs + new.blocking_runs,
            "share_sum": d.share_sum + new.share_sum,
            "share_min": sa.case((new.share_min.is_(None), d.share_min), else_=_least(d.share_min, new.share_min)),
            "share_max": sa.case((new.share_max.is_(None), d.share_max), else_=_greatest(d.share_max, new.share_max)),
        },
    )
    conn.execute(stmt, row)


def _fold_items(conn: sa.Connection, at: datetime, items: Sequence[dict[str, Any]]) -> None:
    if not items:
        return
    rows = []
    for i in items:
        green = i["passed"] == i["total"]
        rows.append(
            {
                "day": at.date(),
                "item": i["item"],
                "area": i["area"],
                "runs": 1,
                "first_at": at,
                "last_at": at,
                "passed": i["passed"],
                "total": i["total"],
                "waiting": i["waiting"],
                "pending": i["pending"],
                "last_green": green,
                "red_last_at": None if green else at,
                "green_after": at if green else None,
            }
        )
    d = DailyItemRecord.__table__.c
    stmt = _upsert(conn, DailyItemRecord)
    new = stmt.excluded
    later = new.last_at >= d.last_at

    def latest(name: str) -> Any:
        return sa.case((later, getattr(new, name)), else_=getattr(d, name))

    stmt = stmt.on_conflict_do_update(
        index_elements=[d.day, d.item],
        set_={
            "runs": d.runs + 1,
            "first_at": sa.case((new.first_at < d.first_at, new.first_at), else_=d.first_at),
            **{
                name: latest(name)
                for name in ("area", "last_at", "passed", "total", "waiting", "pending", "last_green")
            },
            "red_last_at": sa.case(
                (new.red_last_at.is_(None), d.red_last_at), else_=_greatest(d.red_last_at, new.red_last_at)
            ),
            # a red run ends the green streak (when it is the newest); a green one starts one if none is running
            "green_after": sa.case(
                (new.green_after.is_(None), sa.case((later, sa.null()), else_=d.green_after)),
                else_=sa.func.coalesce(d.green_after, new.green_after),
            ),
        },
    )
    conn.execute(stmt, rows)


# ------------------------------------------------------------------------------------------ streaks


def _advance_streaks(conn: sa.Connection, results: Sequence[CheckResult]) -> None:
    observed = [r for r in results if r.result.observed_at is not None]
    if not observed:
        return
    s = CheckStreakRecord.__table__.c
    ids = sorted({r.id for r in observed})
    current = {
        row.check_id: {
            "check_id": row.check_id,
            "status": row.status,
            "since": row.since,
            "last_observed": row.last_observed,
        }
        for row in conn.execute(
            sa.select(CheckStreakRecord).where(s.check_id.in_(ids)).order_by(s.check_id).with_for_update()
        ).mappings()
    }
    rescan: set[str] = set()
    for r in observed:
        at, status = utc(r.result.observed_at), r.result.status.value  # type: ignore[arg-type]  # filtered above
        head = current.get(r.id)
        if head is not None and at < head["last_observed"]:
            rescan.add(r.id)  # observed before the newest one: only the results can tell
        elif head is None or head["status"] != status:
            current[r.id] = {"check_id": r.id, "status": status, "since": at, "last_observed": at}
        else:
            head["last_observed"] = at
    for cid in rescan:
        scanned = scan_streak(conn, cid)
        if scanned is not None:
            current[cid] = scanned
    stmt = _upsert(conn, CheckStreakRecord)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[s.check_id],
        set_={"status": new.status, "since": new.since, "last_observed": new.last_observed},
    )
    conn.execute(stmt, [current[cid] for cid in ids if cid in current])


def scan_streak(conn: sa.Connection, check_id: str) -> dict[str, Any] | None:
    """A check's streak read from its results: the newest status (by ``observed_at``, then recording order) and
    the first result of it after the newest result of another status."""
    r = ResultRecord
    mine = sa.select(r.observed_at).where(r.check_id == check_id, r.observed_at.is_not(None))
    head = conn.execute(mine.add_columns(r.status).order_by(r.observed_at.desc(), r.id.desc()).limit(1)).first()
    if head is None:
        return None
    brk = conn.scalar(mine.where(r.status != head.status).order_by(r.observed_at.desc()).limit(1))
    first = mine.with_only_columns(sa.func.min(r.observed_at))
    since = conn.scalar(first if brk is None else first.where(r.observed_at > brk))
    return {
        "check_id": check_id,
        "status": head.status,
        "since": since or head.observed_at,
        "last_observed": head.observed_at,
    }


def read_streaks(conn: sa.Connection, check_ids: Iterable[str] | None) -> dict[str, tuple[Status, datetime]]:
    """``check_id -> (status, since)`` from ``check_streaks`` (every check when ``check_ids`` is None)."""
    stmt = sa.select(CheckStreakRecord.check_id, CheckStreakRecord.status, CheckStreakRecord.since)
    if check_ids is not None:
        ids = list(check_ids)
        if not ids:
            return {}
        stmt = stmt.where(CheckStreakRecord.check_id.in_(ids))
    return {row[0]: (Status(row[1]), row[2]) for row in conn.execute(stmt)}
