"""Trends: blocking checks passing over time, areas over time, time to green, the OAuth approval timeline."""

import streamlit as st

from checks.presentation import plots
from checks.presentation.views import oauth, trends
from dashboard import context, data

page = context.load()
m = page.manifest
st.title("Trends")

runs = data.runs(page.db_url)
if runs.empty:
    st.info("No run recorded yet: the charts appear after the first (“Run checks now” on the Overview).")
    st.stop()

now = page.now()
marks = trends.checkpoint_points(data.checkpoints(page.db_url))
st.plotly_chart(plots.blocking_trend(trends.blocking_share(runs), marks), key="trend")

results = data.results(page.db_url)
freq = trends.heatmap_freq(runs["started_at"].iloc[0], runs["started_at"].iloc[-1])
st.plotly_chart(plots.status_heatmap(trends.heatmap_frame(results, m, freq)), key="heatmap")
st.caption(f"Each cell is the area's state in the last run of its {dict(h='hour', D='day').get(freq, 'week')}.")

st.plotly_chart(plots.time_to_green(trends.time_to_green(results, m, now)), key="green")

if m.oauth_apps:
    rows = oauth.gantt_rows(m, data.attestations(page.db_url), now)
    st.plotly_chart(plots.approval_gantt(rows, now=now), key="gantt")
    st.caption("Bars: attested setup and approval; shaded: the manifest's expected approval window.")
