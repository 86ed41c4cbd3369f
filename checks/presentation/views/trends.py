"""History over time, as the trends page and the notebooks draw it: the share of blocking checks passing per
run with the checkpoints marked, the area x time heatmap in the seed's words, and time to green per item."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from checks.core.manifest import Manifest
from checks.core.status import Severity, Status

if TYPE_CHECKING:
    from pandas.api.typing import DataFrameGroupBy

    from checks.storage.history import Checkpoint

AREA_STATES = ("NOT STARTED", "PARTIAL", "NEEDS VALIDATION", "READY")
"""The seed's vocabulary, worst first (the heatmap's levels 0-3)."""


@dataclass(frozen=True)
class CheckpointPoint:
    at: datetime
    title: str
    share: float
    """Blocking checks passing in the checkpoint's snapshot, percent."""
    verdict: str


def blocking_share(runs: pd.DataFrame) -> pd.DataFrame:
    """From :func:`~checks.storage.frames.runs_frame`: ``started_at``, ``share`` (% of blocking checks passing),
    ``verdict``, for runs with any blocking check."""
    keep = runs[runs["blocking_total"] > 0]
    return pd.DataFrame(
        {
            "started_at": keep["started_at"].to_numpy(),
            "share": (100.0 * keep["blocking_passed"] / keep["blocking_total"]).astype(float).to_numpy(),
            "verdict": keep["verdict"].astype(str).to_numpy(),
        }
    )


PERIODS: dict[str, int | None] = {"7 days": 7, "30 days": 30, "90 days": 90, "All": None}
"""The Trends page's periods, counted back from the newest run; ``None``: the whole history."""
DEFAULT_PERIOD = "30 days"
PER_RUN_MAX_DAYS = 30
"""Periods up to this many days are drawn run by run; longer ones from the daily rollups (a point per day keeps a
year's figures small: a point per run sent 9,000 of them to the browser)."""


def period_start(end: datetime, days: int | None) -> datetime | None:
    """Where a period of ``days`` ending at ``end`` (the newest run) starts; None for the whole history."""
    return None if days is None else end - timedelta(days=days)


def per_run(days: int | None) -> bool:
    """Whether a period is drawn run by run (else from the daily rollups)."""
    return days is not None and days <= PER_RUN_MAX_DAYS


def from_day(daily: pd.DataFrame, start: datetime | None) -> pd.DataFrame:
    """The rows of a daily frame (``day`` column) from ``start``'s day on; all of them when ``start`` is None."""
    if start is None:
        return daily
    return daily[daily["day"] >= pd.Timestamp(start).tz_convert("UTC").floor("D")]


def last_runs_from(daily_items: pd.DataFrame, start: datetime | None) -> pd.DataFrame:
    """The rows of :func:`~checks.storage.trend_frames.daily_items_frame` whose day's last run of the item started at
    or after ``start``: what the runs from ``start`` on leave in each day, so :func:`heatmap_from_days` of them is
    :func:`heatmap_from_items` of those runs for buckets of a day or more, without reading a row per run and item."""
    if start is None:
        return daily_items
    return daily_items[daily_items["last_at"] >= pd.Timestamp(start).tz_convert("UTC")]


def daily_freq(daily: pd.DataFrame) -> str:
    """The heatmap's bucket for daily rows: days up to four months, weeks beyond (never hours)."""
    if daily.empty:
        return "D"
    return "D" if daily["day"].iloc[-1] - daily["day"].iloc[0] <= timedelta(days=120) else "7D"


def daily_share(daily_runs: pd.DataFrame) -> pd.DataFrame:
    """From :func:`~checks.storage.trend_frames.daily_runs_frame`: ``day``, ``share`` (the day's mean % of blocking
    checks passing), ``low`` and ``high`` (its worst and best run), ``verdict`` (the day's worst: NO-GO when any
    run was, else CONDITIONAL when any was, else GO), ``runs``; days whose runs had no blocking check are left out."""
    keep = daily_runs[daily_runs["share_mean"].notna()]
    worst = keep["no_go"].gt(0).map({True: "NO-GO", False: ""})
    worst = worst.where(worst != "", keep["conditional"].gt(0).map({True: "CONDITIONAL", False: "GO"}))
    return pd.DataFrame(
        {
            "day": keep["day"].to_numpy(),
            "share": keep["share_mean"].astype(float).to_numpy(),
            "low": keep["share_min"].astype(float).to_numpy(),
            "high": keep["share_max"].astype(float).to_numpy(),
            "verdict": worst.astype(str).to_numpy(),
            "runs": keep["runs"].astype("int64").to_numpy(),
        }
    )


def checkpoint_points(checkpoints: Sequence[Checkpoint]) -> list[CheckpointPoint]:
    """Each checkpoint (oldest first) with the share of blocking checks passing in its snapshot."""
    out = []
    for cp in sorted(checkpoints, key=lambda c: c.at):
        results = cp.snapshot.get("results", [])
        blocking = [r for r in results if r.get("severity") == Severity.BLOCKING.value]
        if not blocking:
            continue
        passed = sum(1 for r in blocking if Status(r["status"]).ok)
        out.append(CheckpointPoint(cp.at, cp.title, 100.0 * passed / len(blocking), str(cp.snapshot.get("verdict"))))
    return out


def checkpoint_marks(frame: pd.DataFrame) -> list[CheckpointPoint]:
    """:func:`checkpoint_points` from :func:`~checks.storage.trend_frames.checkpoint_runs_frame` (the checkpoints'
    runs' counts rather than their decoded snapshots; the same points)."""
    keep = frame[frame["blocking_total"] > 0]
    return [
        CheckpointPoint(at.to_pydatetime(), title, 100.0 * passed / total, verdict)
        for at, title, passed, total, verdict in zip(
            keep["at"], keep["title"], keep["blocking_passed"], keep["blocking_total"], keep["verdict"], strict=True
        )
    ]


_OK_VALUES = [s.value for s in Status if s.ok]


_HEAT_COLUMNS = ["bucket", "area", "title", "state", "level", "passed", "total"]


def heatmap_freq(first: datetime, last: datetime) -> str:
    """A bucket size for the heatmap that keeps it readable: hours over a few days, days up to four months,
    weeks beyond."""
    span = last - first
    if span <= timedelta(days=3):
        return "h"
    return "D" if span <= timedelta(days=120) else "7D"


def heatmap_frame(results: pd.DataFrame, manifest: Manifest, freq: str = "D") -> pd.DataFrame:
    """Area x time in the seed's words, from :func:`~checks.storage.frames.results_frame`.

    One row per time bucket (``freq``, a pandas offset alias) and area, from the bucket's last run:
    ``bucket``, ``area``, ``title``, ``state``, ``level`` (0 NOT STARTED ... 3 READY), ``passed``, ``total``.
    """
    if results.empty:
        return pd.DataFrame(columns=_HEAT_COLUMNS)
    status = results["status"]
    frame = pd.DataFrame(
        {
            "run_id": results["run_id"],
            "started_at": results["started_at"],
            "area": results["area"],
            "ok": status.isin(_OK_VALUES),
            "waiting": status.isin([Status.PENDING.value, Status.SKIPPED.value]),
            "pending": status == Status.PENDING.value,
        }
    )
    per = frame.groupby(["run_id", "area"], sort=False).agg(
        started_at=("started_at", "first"),
        passed=("ok", "sum"),
        total=("ok", "size"),
        waiting=("waiting", "sum"),
        pending=("pending", "sum"),
    )
    return _heatmap(per.reset_index(), manifest, freq)


def heatmap_from_items(items: pd.DataFrame, manifest: Manifest, freq: str = "D") -> pd.DataFrame:
    """:func:`heatmap_frame` from :func:`~checks.storage.trend_frames.run_items_frame` (the same frame, from the
    per-item counts instead of every result)."""
    if items.empty:
        return pd.DataFrame(columns=_HEAT_COLUMNS)
    return _heatmap(_area_counts(items.groupby(["run_id", "area"], sort=False), "started_at", "first"), manifest, freq)


def heatmap_from_days(daily_items: pd.DataFrame, manifest: Manifest, freq: str = "D") -> pd.DataFrame:
    """:func:`heatmap_frame` from :func:`~checks.storage.trend_frames.daily_items_frame`: each bucket's state is its
    last day's, each item as its last run that day left it (``freq`` of a day or more)."""
    if daily_items.empty:
        return pd.DataFrame(columns=_HEAT_COLUMNS)
    return _heatmap(_area_counts(daily_items.groupby(["day", "area"], sort=False), "last_at", "max"), manifest, freq)


def _area_counts(groups: DataFrameGroupBy[Any, Any], at: str, pick: str) -> pd.DataFrame:
    """Per group: ``started_at`` (``pick`` of the ``at`` column) and the summed counts. One ``sum`` over the four
    columns rather than a named aggregation each: a third of the time."""
    per = groups[["passed", "total", "waiting", "pending"]].sum()
    per.insert(0, "started_at", getattr(groups[at], pick)())
    return per.reset_index()


def _heatmap(per: pd.DataFrame, manifest: Manifest, freq: str) -> pd.DataFrame:
    columns = _HEAT_COLUMNS
    gaps = per["total"] - per["passed"]
    level = pd.Series(1, index=per.index)  # PARTIAL
    level[(per["passed"] == 0) & (per["pending"] == 0)] = 0
    level[(gaps > 0) & (gaps == per["waiting"])] = 2
    level[gaps == 0] = 3
    per["level"] = level
    per["bucket"] = per["started_at"].dt.floor(freq)
    per = per.sort_values("started_at", kind="stable").drop_duplicates(["bucket", "area"], keep="last")
    titles = {a.id: a.title for a in manifest.areas}
    rank = {a.id: n for n, a in enumerate(manifest.areas)}
    per["title"] = per["area"].map(lambda a: titles.get(a, a))
    per["state"] = per["level"].map(lambda n: AREA_STATES[int(n)])
    per["order"] = per["area"].map(lambda a: rank.get(a, len(rank)))
    per = per.sort_values(["order", "bucket"], kind="stable")
    out = per[columns].reset_index(drop=True)
    out["passed"] = out["passed"].astype("int64")
    out["total"] = out["total"].astype("int64")
    out["level"] = out["level"].astype("int64")
    return out


_GREEN_COLUMNS = ["item", "title", "area", "first_seen", "green_since", "green", "days"]


def time_to_green(results: pd.DataFrame, manifest: Manifest, now: datetime) -> pd.DataFrame:
    """Per item, from :func:`~checks.storage.frames.results_frame`: how long it took (or is taking) to turn green.

    Columns: ``item``, ``title``, ``area``, ``first_seen`` (its first run), ``green_since`` (the start of its
    current green streak, NaT when not green now), ``green`` (bool), ``days`` (first seen to green, or to
    ``now`` while not green). An item is green in a run when all its checks pass (``pass`` or ``warn``).
    Manifest order.
    """
    if results.empty:
        return pd.DataFrame(columns=_GREEN_COLUMNS)
    frame = pd.DataFrame(
        {
            "run_id": results["run_id"],
            "started_at": results["started_at"],
            "item": results["item"],
            "ok": results["status"].isin(_OK_VALUES),
        }
    )
    per = (
        frame.groupby(["run_id", "item"], sort=False)
        .agg(started_at=("started_at", "first"), green=("ok", "all"))
        .reset_index()
        .sort_values("started_at", kind="stable")
    )
    first_seen = per.groupby("item")["started_at"].min()
    latest = per.groupby("item")["green"].last()
    last_red = per[~per["green"]].groupby("item")["started_at"].max()
    after = per.merge(last_red.rename("last_red"), left_on="item", right_index=True, how="left")
    after = after[after["green"] & (after["last_red"].isna() | (after["started_at"] > after["last_red"]))]
    green_since = after.groupby("item")["started_at"].min()
    return _green_rows(first_seen, latest, green_since, manifest, now)


def time_to_green_daily(daily_items: pd.DataFrame, manifest: Manifest, now: datetime) -> pd.DataFrame:
    """:func:`time_to_green` from :func:`~checks.storage.trend_frames.daily_items_frame`: the same frame (runs
    recorded in time order), read from one row per item and day instead of every result."""
    if daily_items.empty:
        return pd.DataFrame(columns=_GREEN_COLUMNS)
    di = daily_items.sort_values(["day", "item"], kind="stable")
    first_seen = di.groupby("item")["first_at"].min()
    latest = di.groupby("item")["last_green"].last()
    last_red = di.groupby("item")["red_last_at"].max()
    after = di.merge(last_red.rename("last_red"), left_on="item", right_index=True, how="left")
    after = after[
        after["green_after"].notna() & (after["last_red"].isna() | (after["green_after"] > after["last_red"]))
    ]
    green_since = after.groupby("item")["green_after"].min()
    return _green_rows(first_seen, latest, green_since, manifest, now)


def _green_rows(
    first_seen: pd.Series, latest: pd.Series, green_since: pd.Series, manifest: Manifest, now: datetime
) -> pd.DataFrame:
    columns = _GREEN_COLUMNS
    rows = []
    now_ts = pd.Timestamp(now)
    for item in manifest.items:
        if item.id not in first_seen.index:
            continue
        seen = first_seen[item.id]
        green = bool(latest[item.id])
        since = green_since.get(item.id) if green else pd.NaT
        end = since if green else now_ts
        rows.append(
            {
                "item": item.id,
                "title": item.title,
                "area": item.area,
                "first_seen": seen,
                "green_since": since,
                "green": green,
                "days": max(0.0, (end - seen).total_seconds() / 86400),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    for name in ("first_seen", "green_since"):
        out[name] = pd.to_datetime(out[name], utc=True)
    out["green"] = out["green"].astype(bool)
    out["days"] = out["days"].astype(float)
    return out
