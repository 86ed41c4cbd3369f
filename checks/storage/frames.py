"""History as pandas frames for the pages and notebooks: results, runs, areas, one check.

Each loader reads one SQL query (``results_frame``: one more, of the runs' start times) straight from the
driver, converts it as ``pd.read_sql`` does and returns a tidy frame with UTC ``datetime64`` columns; they
never load ORM objects (``results_frame`` of 9,000 runs x 40 checks: about 1.8 s on SQLite,
docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler

from checks.storage.history import Store
from checks.storage.schema import ResultRecord, RunItemRecord, RunRecord


class _UTCStamp(sa.sql.functions.FunctionElement[Any]):
    """A UTC timestamp in the form pandas converts fastest, read as the driver returns it (:func:`_utc`): on
    SQLite the naive ISO text it already stores, on PostgreSQL microseconds since the epoch as a ``bigint``
    (``to_char`` cost the server about 4 us a value, 30k values for the Trends page, and pandas then parsed the
    text; an integer column converts in one step)."""

    type = sa.types.NullType()
    inherit_cache = True


@compiles(_UTCStamp)
def _utc_stamp_default(element: _UTCStamp, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_UTCStamp, "postgresql")
def _utc_stamp_pg(element: _UTCStamp, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    # date_part's double holds a 2020s time to a tenth of a microsecond: rounding to bigint gives it back exactly.
    return f"CAST(date_part('epoch', {column}) * 1000000 AS BIGINT)"


def _utc(values: pd.Series) -> pd.Series:
    """A column of :class:`_UTCStamp` values (ISO text, or epoch microseconds; None or NaN when NULL) as UTC
    ``datetime64``."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_datetime(values, unit="us", utc=True)
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _raw(column: InstrumentedAttribute[Any]) -> sa.ColumnElement[Any]:
    """The driver's value without SQLAlchemy's per-row conversion; pandas converts whole columns."""
    return sa.type_coerce(column, sa.types.NullType())


def _read(conn: sa.Connection, stmt: sa.Select[*tuple[Any, ...]]) -> pd.DataFrame:
    """The rows of ``stmt`` as a frame, converted column by column as ``pd.read_sql`` converts them, but read
    straight from the DBAPI cursor: a SQLAlchemy ``Row`` per result cost more than the whole conversion.
    Values arrive as the driver returns them, so select text, numbers, :class:`_UTCStamp` or :func:`_raw`."""
    result = conn.execute(stmt)
    try:
        columns = list(result.keys())
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)


def _frame(store: Store, stmt: sa.Select[*tuple[Any, ...]], times: Iterable[str] = ()) -> pd.DataFrame:
    with store.engine.connect() as conn:
        frame = _read(conn, stmt)
    for name in times:
        frame[name] = _utc(frame[name])
    return frame


def results_frame(
    store: Store,
    since: datetime | None = None,
    until: datetime | None = None,
    checks: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per recorded result, oldest run first.

    Columns: ``run_id``, ``started_at`` (the run's, UTC), ``check_id``, ``item``, ``area``, ``kind``,
    ``severity``, ``status``, ``waived`` (bool), ``duration_ms`` (float). ``since`` (inclusive) and
    ``until`` (exclusive) bound the run's start; ``checks`` keeps only those check ids.
    """
    r, run = ResultRecord, RunRecord
    # The run's start comes from one row per run, mapped onto the results in pandas: joining it in SQL
    # made the database and the driver produce a timestamp string per result.
    runs = sa.select(run.id.label("run_id"), _UTCStamp(run.started_at).label("started_at"))
    if since is not None:
        runs = runs.where(run.started_at >= since)
    if until is not None:
        runs = runs.where(run.started_at < until)
    stmt = sa.select(
        r.run_id,
        r.check_id,
        r.item,
        r.area,
        r.kind,
        r.severity,
        r.status,
        _raw(r.waived).label("waived"),
        _raw(r.duration_ms).label("duration_ms"),
        r.id.label("result_id"),
    )
    if since is not None or until is not None:
        stmt = stmt.where(r.run_id.in_(runs.with_only_columns(run.id)))
    if checks is not None:
        stmt = stmt.where(r.check_id.in_(list(checks)))
    with store.engine.connect() as conn:
        frame = _read(conn, stmt)
        # Read second: a run is recorded with its results in one transaction, so every run read above is here.
        starts = _read(conn, runs)
    frame.insert(1, "started_at", frame["run_id"].map(pd.Series(starts["started_at"].array, index=starts["run_id"])))
    # The same values as the join gave, converted the same way (to_datetime's cache parses each distinct text once).
    frame["started_at"] = _utc(frame["started_at"])
    # Sorting here rather than in SQL spares SQLite a temporary B-tree over every result.
    frame = frame.sort_values(["started_at", "result_id"], kind="stable", ignore_index=True)
    frame["waived"] = frame["waived"].astype(bool)
    frame["duration_ms"] = frame["duration_ms"].astype(float)
    return frame.drop(columns="result_id")


def runs_frame(store: Store, since: datetime | None = None) -> pd.DataFrame:
    """One row per run (started at or after ``since`` when given), oldest first; the counts are the run's own
    columns (migration 0004), no result is read.

    Columns: ``run_id``, ``started_at``, ``finished_at`` (UTC), ``verdict`` (GO/CONDITIONAL/NO-GO),
    ``passed`` and ``total`` (results met, i.e. ``pass`` or ``warn``, out of all), ``blocking_passed``
    and ``blocking_total`` (the same over blocking checks).
    """
    run = RunRecord
    stmt = sa.select(
        run.id.label("run_id"),
        _UTCStamp(run.started_at).label("started_at"),
        _UTCStamp(run.finished_at).label("finished_at"),
        run.verdict,
        run.passed,
        run.total,
        run.blocking_passed,
        run.blocking_total,
    ).order_by(run.started_at, run.seq)
    if since is not None:
        stmt = stmt.where(run.started_at >= since)
    frame = _frame(store, stmt, ["started_at", "finished_at"])
    for name in ("passed", "total", "blocking_passed", "blocking_total"):
        frame[name] = frame[name].astype("int64")
    return frame


def area_frame(store: Store) -> pd.DataFrame:
    """One row per run and area, oldest run first.

    Columns: ``run_id``, ``started_at`` (UTC), ``area``, ``passed`` (met: ``pass`` or ``warn``),
    ``total``, ``share`` (passed / total, a float in [0, 1]). Summed from the runs' per-item counts
    (``run_items``, migration 0004), not from every result.
    """
    i, run = RunItemRecord, RunRecord
    stmt = (
        sa.select(
            run.id.label("run_id"),
            _UTCStamp(run.started_at).label("started_at"),
            i.area,
            sa.func.sum(i.passed).label("passed"),
            sa.func.sum(i.total).label("total"),
        )
        .join(i, i.run_id == run.id)
        .group_by(run.id, i.area)
        .order_by(run.started_at, run.seq, i.area)
    )
    frame = _frame(store, stmt, ["started_at"])
    frame["passed"] = frame["passed"].astype("int64")
    frame["total"] = frame["total"].astype("int64")
    frame["share"] = (frame["passed"] / frame["total"]).astype(float)
    return frame


def check_frame(store: Store, check_id: str) -> pd.DataFrame:
    """The history of one check, oldest first.

    Columns: ``run_id``, ``started_at``, ``observed_at`` (UTC; NaT when the runner set none),
    ``status``, ``severity``, ``waived`` (bool), ``summary``, ``remediation``, ``duration_ms``.
    """
    r, run = ResultRecord, RunRecord
    stmt = (
        sa.select(
            r.run_id,
            _UTCStamp(run.started_at).label("started_at"),
            _UTCStamp(r.observed_at).label("observed_at"),
            r.status,
            r.severity,
            r.waived,
            r.summary,
            r.remediation,
            r.duration_ms,
        )
        .join(run, run.id == r.run_id)
        .where(r.check_id == check_id)
        .order_by(run.started_at, r.id)
    )
    frame = _frame(store, stmt, ["started_at", "observed_at"])
    frame["waived"] = frame["waived"].astype(bool)
    frame["duration_ms"] = frame["duration_ms"].astype(float)
    return frame
