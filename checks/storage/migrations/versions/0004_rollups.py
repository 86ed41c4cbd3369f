"""History rollups: what the trends, lists and escalations read without scanning every result.

* ``runs`` gets its counts (``passed``, ``total``, ``blocking_passed``, ``blocking_total``);
* ``run_items``: one row per run and item, its results counted (the heatmap, time to green);
* ``check_streaks``: each check's latest status and when its unbroken streak of it began (``status_since``);
* ``daily_runs`` and ``daily_items``: one row per UTC day (and item), the long ranges of the trends; they
  outlive ``readiness history prune``.

The store writes all of them in the transaction that records a run. Existing databases are backfilled here
from their results, in the order the store reads them, so the frames and ``status_since`` answer as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models (or the store's rollups) do.
UTC_TS = sa.DateTime(timezone=True)
_OK = "('pass', 'warn')"
_COUNTS = ("passed", "total", "blocking_passed", "blocking_total")


def upgrade() -> None:
    for name in _COUNTS:
        op.add_column("runs", sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.create_table(
        "run_items",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("item", sa.String(200), nullable=False),
        sa.Column("area", sa.String(200), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_items_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "item", name="pk_run_items"),
    )
    op.create_table(
        "check_streaks",
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", UTC_TS, nullable=False),
        sa.Column("last_observed", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("check_id", name="pk_check_streaks"),
    )
    op.create_table(
        "daily_runs",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("first_at", UTC_TS, nullable=False),
        sa.Column("last_at", UTC_TS, nullable=False),
        sa.Column("last_verdict", sa.String(16), nullable=False),
        sa.Column("go", sa.Integer(), nullable=False),
        sa.Column("conditional", sa.Integer(), nullable=False),
        sa.Column("no_go", sa.Integer(), nullable=False),
        sa.Column("blocking_runs", sa.Integer(), nullable=False),
        sa.Column("share_sum", sa.Float(), nullable=False),
        sa.Column("share_min", sa.Float(), nullable=True),
        sa.Column("share_max", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("day", name="pk_daily_runs"),
    )
    op.create_table(
        "daily_items",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("item", sa.String(200), nullable=False),
        sa.Column("area", sa.String(200), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("first_at", UTC_TS, nullable=False),
        sa.Column("last_at", UTC_TS, nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("last_green", sa.Boolean(), nullable=False),
        sa.Column("red_last_at", UTC_TS, nullable=True),
        sa.Column("green_after", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("day", "item", name="pk_daily_items"),
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    for table in ("daily_items", "daily_runs", "check_streaks", "run_items"):
        op.drop_table(table)
    for name in reversed(_COUNTS):
        op.drop_column("runs", name)  # plain DROP COLUMN (SQLite 3.35+): batch mode would cascade into results


# ------------------------------------------------------------------------------------------ backfill


def _backfill(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            f"""
            UPDATE runs SET
              passed = (SELECT count(*) FROM results r WHERE r.run_id = runs.id AND r.status IN {_OK}),
              total = (SELECT count(*) FROM results r WHERE r.run_id = runs.id),
              blocking_passed = (SELECT count(*) FROM results r
                                 WHERE r.run_id = runs.id AND r.severity = 'blocking' AND r.status IN {_OK}),
              blocking_total = (SELECT count(*) FROM results r WHERE r.run_id = runs.id AND r.severity = 'blocking')
            """
        )
    )
    conn.execute(
        sa.text(
            f"""
            INSERT INTO run_items (run_id, item, area, passed, total, waiting, pending)
            SELECT run_id, item, min(area),
                   sum(CASE WHEN status IN {_OK} THEN 1 ELSE 0 END), count(*),
                   sum(CASE WHEN status IN ('pending', 'skipped') THEN 1 ELSE 0 END),
                   sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END)
            FROM results GROUP BY run_id, item
            """
        )
    )
    _backfill_daily(conn)
    _backfill_streaks(conn)


# Typed for the inserts, so each dialect stores dates and times as the store's own columns do.
_daily_runs = sa.table(
    "daily_runs",
    *(sa.column(n, sa.Integer()) for n in ("runs", "go", "conditional", "no_go", "blocking_runs")),
    *(sa.column(n, sa.Float()) for n in ("share_sum", "share_min", "share_max")),
    *(sa.column(n, UTC_TS) for n in ("first_at", "last_at")),
    sa.column("day", sa.Date()),
    sa.column("last_verdict", sa.String()),
)
_daily_items = sa.table(
    "daily_items",
    *(sa.column(n, sa.Integer()) for n in ("runs", "passed", "total", "waiting", "pending")),
    *(sa.column(n, UTC_TS) for n in ("first_at", "last_at", "red_last_at", "green_after")),
    sa.column("day", sa.Date()),
    sa.column("item", sa.String()),
    sa.column("area", sa.String()),
    sa.column("last_green", sa.Boolean()),
)
_check_streaks = sa.table(
    "check_streaks",
    sa.column("check_id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("since", UTC_TS),
    sa.column("last_observed", UTC_TS),
)


def _ts(value: Any) -> datetime:
    when: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _bind(conn: sa.Connection, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=None) if conn.dialect.name == "sqlite" else value  # as UTCDateTime stores it


def _backfill_daily(conn: sa.Connection) -> None:
    runs = conn.execute(
        sa.text("SELECT id, started_at, verdict, blocking_passed, blocking_total FROM runs ORDER BY started_at, seq")
    ).all()
    items: dict[str, list[Any]] = {}
    for row in conn.execute(sa.text("SELECT run_id, item, area, passed, total, waiting, pending FROM run_items")):
        items.setdefault(row[0], []).append(row[1:])
    days: dict[date, dict[str, Any]] = {}
    day_items: dict[tuple[date, str], dict[str, Any]] = {}
    for (
        run_id,
        started,
        verdict,
        bp,
        bt,
    ) in runs:
        at = _ts(started)
        day = at.date()
        d = days.setdefault(
            day,
            {
                "day": day,
                "runs": 0,
                "first_at": at,
                "go": 0,
                "conditional": 0,
                "no_go": 0,
                "blocking_runs": 0,
                "share_sum": 0.0,
                "share_min": None,
                "share_max": None,
            },
        )
        d["runs"] += 1
        d["last_at"], d["last_verdict"] = at, verdict
        d[{"GO": "go", "CONDITIONAL": "conditional"}.get(verdict, "no_go")] += 1
        if bt:
            share = 100.0 * bp / bt
            d["blocking_runs"] += 1
            d["share_sum"] += share
            d["share_min"] = share if d["share_min"] is None else min(d["share_min"], share)
            d["share_max"] = share if d["share_max"] is None else max(d["share_max"], share)
        for item, area, passed, total, waiting, pending in items.get(run_id, ()):
            green = passed == total
            i = day_items.setdefault(
                (day, item),
                {"day": day, "item": item, "runs": 0, "first_at": at, "red_last_at": None, "green_after": None},
            )
            i.update(
                runs=i["runs"] + 1,
                area=area,
                last_at=at,
                passed=passed,
                total=total,
                waiting=waiting,
                pending=pending,
                last_green=green,
            )
            if green:
                i["green_after"] = i["green_after"] or at
            else:
                i["red_last_at"], i["green_after"] = at, None
    times = ("first_at", "last_at", "red_last_at", "green_after")
    if days:
        conn.execute(
            _daily_runs.insert(), [{**d, **{k: _bind(conn, d[k]) for k in times if k in d}} for d in days.values()]
        )
    if day_items:
        conn.execute(
            _daily_items.insert(), [{**i, **{k: _bind(conn, i[k]) for k in times}} for i in day_items.values()]
        )


def _backfill_streaks(conn: sa.Connection) -> None:
    # Results by check in the order status_since has always read them: observed_at, then recording order.
    rows = conn.execute(
        sa.text(
            "SELECT check_id, status, observed_at FROM results WHERE observed_at IS NOT NULL "
            "ORDER BY check_id, observed_at, id"
        )
    )
    streaks: dict[str, dict[str, Any]] = {}
    for check_id, status, observed in rows:
        at = _ts(observed)
        s = streaks.get(check_id)
        if s is None or s["status"] != status:
            streaks[check_id] = {"check_id": check_id, "status": status, "since": at, "last_observed": at}
        else:
            s["last_observed"] = at
    if streaks:
        conn.execute(
            _check_streaks.insert(),
            [
                {**s, "since": _bind(conn, s["since"]), "last_observed": _bind(conn, s["last_observed"])}
                for s in streaks.values()
            ],
        )
