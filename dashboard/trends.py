"""Trends: blocking checks passing over time, areas over time, time to green, the OAuth approval timeline.

A period (counted back from the newest run) picks what is loaded: up to 30 days run by run, longer a point per
day from the daily rollups; the range selector on the first chart zooms within it in the browser."""

import streamlit as st

from checks.presentation import plots
from checks.presentation.views import oauth, trends
from dashboard import context, data

page = context.load()
m = page.manifest
st.title("Trends")

end = data.newest_start(page.db_url)
if end is None:
    st.info("No run recorded yet: the charts appear after the first (“Run checks now” on the Overview).")
    st.stop()

now = page.now()
choice = st.radio(
    "Period",
    list(trends.PERIODS),
    index=list(trends.PERIODS).index(trends.DEFAULT_PERIOD),
    horizontal=True,
    key="period",
)
days = trends.PERIODS[choice or trends.DEFAULT_PERIOD]
start = trends.period_start(end, days)
marks = [c for c in trends.checkpoint_marks(data.checkpoint_runs(page.db_url)) if start is None or c.at >= start]
daily_items = data.daily_items(page.db_url)

if trends.per_run(days):
    runs = data.runs_since(page.db_url, start)
    st.plotly_chart(plots.blocking_trend(trends.blocking_share(runs), marks), key="trend")
    freq = trends.heatmap_freq(runs["started_at"].iloc[0], runs["started_at"].iloc[-1])
    if freq == "h":  # a few days of history: hour by hour, from the runs' per-item rows
        heat = trends.heatmap_from_items(data.run_items(page.db_url, start), m, freq)
    else:  # a cell per day holds the day's last run: the daily rows already have it
        heat = trends.heatmap_from_days(trends.last_runs_from(daily_items, start), m, freq)
else:
    per_day = trends.from_day(data.daily_runs(page.db_url), start)
    st.plotly_chart(plots.blocking_trend_daily(trends.daily_share(per_day), marks), key="trend")
    freq = trends.daily_freq(per_day)
    heat = trends.heatmap_from_days(trends.from_day(daily_items, start), m, freq)
    st.caption("A point per day: its runs' mean, the band from its worst run to its best.")
st.plotly_chart(plots.status_heatmap(heat), key="heatmap")
st.caption(f"Each cell is the area's state in the last run of its {dict(h='hour', D='day').get(freq, 'week')}.")

st.plotly_chart(plots.time_to_green(trends.time_to_green_daily(daily_items, m, now)), key="green")

if m.oauth_apps:
    rows = oauth.gantt_rows(m, data.attestations(page.db_url), now)
    st.plotly_chart(plots.approval_gantt(rows, now=now), key="gantt")
    st.caption("Bars: attested setup and approval; shaded: the manifest's expected approval window.")
