"""Plotly figures for the dashboard and notebooks: pure functions from :mod:`checks.presentation.views` data
to a Figure.

* :func:`blocking_trend`: share of blocking checks passing over time, coloured by verdict, checkpoints marked;
* :func:`blocking_trend_daily`: the same a point per day (mean, worst and best run), for long ranges;
* :func:`status_heatmap`: area x time in the seed's words;
* :func:`time_to_green`: days each item took (or is taking) to turn green;
* :func:`approval_gantt`: the OAuth apps' attested setup and approval against the expected durations;
* :func:`sparkline`: one check's recent statuses;
* :func:`credentials_by_provider`: the vault's credentials by provider and state (counts only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from checks.presentation.views.checks_table import STATUS_LEVEL
from checks.presentation.views.oauth import GanttRow
from checks.presentation.views.trends import AREA_STATES, CheckpointPoint

if TYPE_CHECKING:
    import plotly.graph_objects as go  # type: ignore[import-untyped]  # plotly ships no type hints

__all__ = [
    "STATE_COLOR",
    "STATUS_COLOR",
    "VERDICT_COLOR",
    "approval_gantt",
    "blocking_trend",
    "blocking_trend_daily",
    "credentials_by_provider",
    "sparkline",
    "status_heatmap",
    "time_to_green",
]

VERDICT_COLOR = {"GO": "#1a7f37", "CONDITIONAL": "#bf8700", "NO-GO": "#cf222e"}
STATUS_COLOR = {
    "pass": "#1a7f37",
    "warn": "#9a6700",
    "pending": "#0969da",
    "skipped": "#6e7781",
    "fail": "#cf222e",
    "error": "#8250df",
}
STATE_COLOR = {"NOT STARTED": "#cf222e", "PARTIAL": "#d4a72c", "NEEDS VALIDATION": "#0969da", "READY": "#1a7f37"}
CREDENTIAL_STATE_COLOR = {"active": "#1a7f37", "needs_reauth": "#bf8700", "revoked": "#6e7781"}
_KIND_COLOR = {"expected": "rgba(9,105,218,0.25)", "attested": "#1a7f37", "ongoing": "#bf8700"}
_MARGIN: dict[str, Any] = {"l": 70, "r": 40, "t": 90, "b": 70}
"""Room on every side: a date axis draws its year on a second line under the ticks (b), a checkpoint's label
over the first point sticks out left of the plot (l), the legend sits above the plot, under the title (t)."""


@cache
def _template() -> Any:
    """``plotly_white``, fetched once."""
    import plotly.io as pio  # type: ignore[import-untyped]

    return pio.templates["plotly_white"]


def _figure(data: Any = None) -> go.Figure:
    """A figure on ``plotly_white`` (the same JSON as ``update_layout(template=...)``): the template is set as plotly
    sets its default one, without validating it again. Validating it cost 50-65 ms a figure whether it was named or
    passed as the object (about half of the Trends page's CPU); the template is plotly's own, already valid."""
    import plotly.graph_objects as go

    fig = go.Figure(data)
    layout = fig.layout
    layout._validate = (
        False  # what plotly itself does for pio.templates.default (BaseFigure._initialize_layout_template)
    )
    try:
        layout.template = _template()
    finally:
        layout._validate = True
    return fig


def _layout() -> dict[str, Any]:
    return {"margin": _MARGIN}


_LEGEND_TOP: dict[str, Any] = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0}
"""The legend above the plot area: below it, it sat on the x axis title."""
_TITLE: dict[str, Any] = {"x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top"}


def _naive(at: Any) -> datetime:
    """A UTC time without its offset (every stored time is UTC; plotly.js ignores offsets anyway)."""
    ts = pd.Timestamp(at)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def _naive_all(values: Any) -> Any:
    """A column of UTC times as offset-free ``datetime64`` values (vectorised: 9,000 runs is one call)."""
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).tz_localize(None).to_numpy()


def blocking_trend(series: pd.DataFrame, checkpoints: Sequence[CheckpointPoint] = ()) -> go.Figure:
    """Share (%) of blocking checks passing per run (:func:`~checks.presentation.views.trends.blocking_share`): a
    line, a marker trace per verdict (GO, CONDITIONAL, NO-GO) in its colour, a diamond and a dotted line per
    checkpoint."""
    import plotly.graph_objects as go

    fig = _figure()
    # Seconds and one decimal are all a chart shows: "2025-09-18 10:00:00" and 66.7 rather than
    # "2025-09-18T10:00:00.000000" and 66.66666666666667 halve what a month of hourly runs sends to the browser.
    x = pd.DatetimeIndex(_naive_all(series["started_at"])).strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    y = series["share"].round(1).to_numpy()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines",
            name="blocking checks passing",
            line={"color": "#8c959f", "width": 2},
            hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{y:.0f}% passing<extra></extra>",
        )
    )
    # One marker trace per verdict rather than a colour per point: plotly validates every element of a
    # per-point list, which costs seconds for a year of hourly runs.
    for verdict, color in VERDICT_COLOR.items():
        mask = (series["verdict"] == verdict).to_numpy()
        if mask.any():
            fig.add_trace(
                go.Scatter(
                    x=x[mask],
                    y=y[mask],
                    mode="markers",
                    name=verdict,
                    marker={"color": color, "size": 6},
                    hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{y:.0f}% passing<extra>" + verdict + "</extra>",
                )
            )
    _checkpoint_marks(fig, checkpoints, title="Blocking checks passing", steps=((1, "1 d"), (7, "7 d")))
    return fig


def blocking_trend_daily(days: pd.DataFrame, checkpoints: Sequence[CheckpointPoint] = ()) -> go.Figure:
    """Long ranges, a point per UTC day (:func:`~checks.presentation.views.trends.daily_share`): the day's mean share
    of blocking checks passing as a line, its worst and best run as a band, a marker per day in the colour of its
    worst verdict, the checkpoints as in :func:`blocking_trend`."""
    import plotly.graph_objects as go

    fig = _figure()
    x = [d.strftime("%Y-%m-%d") for d in pd.DatetimeIndex(days["day"])]  # a date is all a daily point needs
    fig.add_trace(
        go.Scatter(
            x=x + x[::-1],
            y=[round(v, 1) for v in days["high"]] + [round(v, 1) for v in days["low"][::-1]],
            fill="toself",
            fillcolor="rgba(140,149,159,0.25)",
            line={"width": 0},
            hoverinfo="skip",
            name="worst to best run",
        )
    )
    mean = [round(v, 1) for v in days["share"]]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=mean,
            mode="lines",
            name="blocking checks passing (day's mean)",
            line={"color": "#8c959f", "width": 2},
            hovertemplate="%{x}<br>%{y:.0f}% passing on average<extra></extra>",
        )
    )
    verdicts = days["verdict"].to_numpy()
    for verdict, color in VERDICT_COLOR.items():
        keep = [n for n, v in enumerate(verdicts) if v == verdict]
        if keep:
            fig.add_trace(
                go.Scatter(
                    x=[x[n] for n in keep],
                    y=[mean[n] for n in keep],
                    mode="markers",
                    name=f"{verdict} (day's worst)",
                    marker={"color": color, "size": 5},
                    hoverinfo="skip",
                )
            )
    _checkpoint_marks(fig, checkpoints, title="Blocking checks passing, per day", steps=((30, "30 d"), (90, "90 d")))
    return fig


def _checkpoint_marks(
    fig: go.Figure, checkpoints: Sequence[CheckpointPoint], title: str, steps: Sequence[tuple[int, str]]
) -> None:
    """The checkpoints (diamonds, a dotted line each), the layout, and a range selector of ``steps`` (days)."""
    import plotly.graph_objects as go

    if checkpoints:
        fig.add_trace(
            go.Scatter(
                x=[_naive(c.at) for c in checkpoints],
                y=[c.share for c in checkpoints],
                mode="markers+text",
                name="checkpoints",
                marker={"symbol": "diamond", "size": 13, "color": "#0969da", "line": {"color": "#fff", "width": 1}},
                text=[c.title for c in checkpoints],
                # the first label starts at its point (centred, "Week 0" over the first run was cut at the
                # left edge), the last ends at it; the rest are centred
                textposition=[
                    "top right" if n == 0 else "top left" if n == len(checkpoints) - 1 else "top center"
                    for n in range(len(checkpoints))
                ]
                if len(checkpoints) > 1
                else "top right",
                cliponaxis=False,
                customdata=[c.verdict for c in checkpoints],
                hovertemplate="%{text}<br>%{x|%Y-%m-%d %H:%M} UTC<br>%{y:.0f}% passing, %{customdata}"
                "<extra>checkpoint</extra>",
            )
        )
    # One layout update for every checkpoint line: add_vline re-validates all shapes on each call
    # (1.3 s for a year of weekly checkpoints, against 0.04 s this way).
    lines = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": _naive(c.at),
            "x1": _naive(c.at),
            "y0": 0,
            "y1": 1,
            "line": {"color": "#0969da", "width": 1, "dash": "dot"},
        }
        for c in checkpoints
    ]
    buttons = [{"count": n, "label": label, "step": "day", "stepmode": "backward"} for n, label in steps]
    fig.update_layout(
        shapes=lines,
        **_layout(),
        height=380,
        title={"text": title, **_TITLE},
        yaxis={"title": {"text": "passing (%)"}, "range": [0, 112], "ticksuffix": "%"},
        xaxis={
            "title": {"text": "UTC", "standoff": 12},
            "automargin": True,
            # zoom in the browser, on the data already sent: the period control above picks what is sent
            "rangeselector": {
                "buttons": [*buttons, {"step": "all", "label": "all"}],
                "x": 1,
                "xanchor": "right",
                "y": 1.0,
            },
        },
        legend=_LEGEND_TOP,
    )


def status_heatmap(frame: pd.DataFrame) -> go.Figure:
    """Area x time from :func:`~checks.presentation.views.trends.heatmap_frame`, one colour per state in the seed's
    words."""
    import plotly.graph_objects as go

    titles = list(dict.fromkeys(frame["title"]))
    labels = frame.assign(
        label=frame["state"].astype(str) + " (" + frame["passed"].astype(str) + "/" + frame["total"].astype(str) + ")"
    )
    z = labels.pivot(index="title", columns="bucket", values="level").reindex(titles)
    text = labels.pivot(index="title", columns="bucket", values="label").reindex(titles)
    buckets = list(z.columns)
    hourly = any(pd.Timestamp(b).hour for b in buckets)
    labels_x = [pd.Timestamp(b).strftime("%Y-%m-%d %H:00" if hourly else "%Y-%m-%d") for b in buckets]
    n = len(AREA_STATES)
    scale = []
    for level, state in enumerate(AREA_STATES):  # a step per level: no blending between states
        scale += [[level / n, STATE_COLOR[state]], [(level + 1) / n, STATE_COLOR[state]]]
    fig = _figure(
        go.Heatmap(
            z=z.to_numpy().tolist(),
            x=labels_x,
            y=titles,
            text=text.fillna("").to_numpy().tolist(),
            zmin=-0.5,
            zmax=n - 0.5,
            colorscale=scale,
            xgap=1,
            ygap=2,
            hovertemplate="%{y}<br>%{x}<br>%{text}<extra></extra>",
            colorbar={
                "tickvals": list(range(n)),
                "ticktext": list(AREA_STATES),
                "title": {"text": "state"},
            },
            name="area state",
        )
    )
    fig.update_layout(
        **_layout(),
        height=120 + 45 * max(1, len(titles)),
        title={"text": "Areas over time", **_TITLE},
        yaxis={"autorange": "reversed"},
        xaxis={"type": "category", "nticks": 12},
    )
    return fig


def time_to_green(frame: pd.DataFrame) -> go.Figure:
    """Days per item from first run to green (:func:`~checks.presentation.views.trends.time_to_green`); items not green
    yet are drawn as ongoing."""
    import plotly.graph_objects as go

    fig = _figure()
    for green, name, color in ((True, "green", STATUS_COLOR["pass"]), (False, "not green yet", STATUS_COLOR["fail"])):
        part = frame[frame["green"] == green] if not frame.empty else frame
        fig.add_trace(
            go.Bar(
                x=part["days"].tolist() if not part.empty else [],
                y=part["title"].tolist() if not part.empty else [],
                orientation="h",
                name=name,
                marker={"color": color},
                hovertemplate="%{y}<br>%{x:.1f} days<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        **_layout(),
        height=120 + 28 * max(1, len(frame)),
        title={"text": "Time to green per item", **_TITLE},
        xaxis={"title": {"text": "days", "standoff": 12}, "automargin": True},
        yaxis={"autorange": "reversed", "categoryorder": "array", "categoryarray": frame["title"].tolist()},
        barmode="overlay",
        legend=_LEGEND_TOP,
    )
    return fig


def approval_gantt(rows: Sequence[GanttRow], now: datetime | None = None) -> go.Figure:
    """The OAuth apps' timeline (:func:`~checks.presentation.views.oauth.gantt_rows`): attested phases, ongoing ones,
    and the expected approval window, one trace per kind; a dashed line at ``now`` when given."""
    import plotly.graph_objects as go

    fig = _figure()
    for kind, name in (("expected", "expected approval"), ("attested", "attested"), ("ongoing", "ongoing")):
        mine = [r for r in rows if r.kind == kind]
        fig.add_trace(
            go.Bar(
                base=[_naive(r.start) for r in mine],
                x=[(r.finish - r.start).total_seconds() * 1000 for r in mine],
                y=[r.app for r in mine],
                orientation="h",
                name=name,
                marker={"color": _KIND_COLOR[kind]},
                text=[r.phase for r in mine],
                textposition="inside",
                customdata=[[r.detail, _naive(r.start), _naive(r.finish)] for r in mine],
                hovertemplate="%{y}: %{text}<br>%{customdata[0]}<br>%{customdata[1]|%Y-%m-%d} → "
                "%{customdata[2]|%Y-%m-%d}<extra>" + name + "</extra>",
            )
        )
    if now is not None:
        fig.add_vline(x=_naive(now), line={"color": "#57606a", "width": 1, "dash": "dash"})
    fig.update_layout(
        **_layout(),
        height=140 + 60 * max(1, len({r.app for r in rows})),
        title={"text": "OAuth approval timeline vs expected", **_TITLE},
        xaxis={"type": "date", "title": {"text": "UTC", "standoff": 12}, "automargin": True},
        yaxis={"autorange": "reversed"},
        barmode="group",
        bargap=0.25,
        legend=_LEGEND_TOP,
    )
    return fig


NOTIFICATION_COLOR = {
    "sent": "#1a7f37",
    "failed": "#cf222e",
    "suppressed": "#bf8700",
    "unrouted": "#6e7781",
    "pending": "#0969da",
    "sending": "#0969da",
}


def notifications_per_day(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars: the watcher's notifications per day, one trace per status (``views.notifications``)."""
    import plotly.graph_objects as go

    fig = _figure()
    for status, part in frame.groupby("status", sort=False):
        fig.add_trace(
            go.Bar(
                x=_naive_all(part["day"]),
                y=part["count"],
                name=str(status),
                marker={"color": NOTIFICATION_COLOR.get(str(status), "#57606a")},
                hovertemplate="%{x|%Y-%m-%d}: %{y} " + str(status) + "<extra></extra>",
            )
        )
    fig.update_layout(
        **_layout(),
        height=280,
        barmode="stack",
        title={"text": "Notifications per day", **_TITLE},
        yaxis={
            "title": {"text": "messages"},
            "tickformat": "d",
            "rangemode": "tozero",
            # whole messages: a step of 1 while the busiest day is small (plotly would tick 0, 0.5, 1, ...)
            "dtick": 1 if int(frame.groupby("day")["count"].sum().max() if len(frame) else 0) <= 8 else None,
        },
        xaxis={"showgrid": False},
        legend=_LEGEND_TOP,
    )
    return fig


def sparkline(points: pd.DataFrame) -> go.Figure:
    """One check's recent history (:func:`~checks.presentation.views.checks_table.sparkline_points`): a small step
    line, pass high."""
    import plotly.graph_objects as go

    fig = _figure(
        go.Scatter(
            x=_naive_all(points["started_at"]),
            y=points["level"].tolist(),
            mode="lines+markers",
            line={"shape": "hv", "color": "#8c959f", "width": 1},
            marker={"color": [STATUS_COLOR.get(s, "#57606a") for s in points["status"]], "size": 7},
            text=points["status"].tolist(),
            hovertemplate="%{x|%Y-%m-%d %H:%M}<br>%{text}<extra></extra>",
            name="status",
        )
    )
    levels = sorted(STATUS_LEVEL.items(), key=lambda kv: kv[1])
    fig.update_layout(
        height=150,
        margin={"l": 10, "r": 10, "t": 10, "b": 20},
        showlegend=False,
        yaxis={
            "range": [-0.5, max(STATUS_LEVEL.values()) + 0.5],
            "tickvals": [v for _, v in levels],
            "ticktext": [k for k, _ in levels],
            "showgrid": False,
        },
        xaxis={"showgrid": False},
    )
    return fig


def credentials_by_provider(by_provider_state: Mapping[str, Mapping[str, int]]) -> go.Figure:
    """Stacked bars: credentials per provider, one trace per state (``VaultStats.by_provider_state``)."""
    import plotly.graph_objects as go

    providers = sorted(by_provider_state)
    states = sorted({s for counts in by_provider_state.values() for s in counts})
    fig = _figure()
    for state in states:
        fig.add_trace(
            go.Bar(
                x=providers,
                y=[by_provider_state[p].get(state, 0) for p in providers],
                name=state,
                marker={"color": CREDENTIAL_STATE_COLOR.get(state, "#57606a")},
            )
        )
    fig.update_layout(
        **_layout(),
        height=300,
        barmode="stack",
        title={"text": "Credentials by provider and state", **_TITLE},
        yaxis={"title": {"text": "credentials"}, "dtick": 1, "tickformat": "d", "rangemode": "tozero"},
        legend=_LEGEND_TOP,
    )
    return fig
