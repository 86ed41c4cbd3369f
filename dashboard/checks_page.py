"""Checks: a filterable table; for one check its evidence, conditions, remediation, history and a re-run."""

import pandas as pd
import streamlit as st

from checks import ManifestError, Severity, Status
from checks.presentation import pagetext, plots
from checks.presentation.views import checks_table, overview
from dashboard import context, data, widgets

page = context.load()
m = page.manifest
st.title("Checks")
widgets.show_flash()

run = data.current_run(page.db_url, m)
if run is None:
    st.info("No run recorded yet: press “Run checks now” on the Overview, or run `readiness check`.")
    st.stop()

frame = checks_table.check_table(m, run, data.last_changed(page.db_url))
areas = {a.id: a.title for a in m.areas}
c1, c2, c3 = st.columns(3)
pick_areas = c1.multiselect("Area", list(areas), format_func=lambda a: areas.get(a, a), key="f_area")
pick_status = c2.multiselect("Status", [s.value for s in Status], key="f_status")
pick_severity = c3.multiselect("Severity", [s.value for s in Severity], key="f_severity")
shown = checks_table.filter_checks(frame, pick_areas, pick_status, pick_severity)
st.dataframe(
    shown,
    hide_index=True,
    column_order=["id", "status", "severity", "waived", "area", "item", "summary", "last_changed", "title"],
    column_config={
        "last_changed": st.column_config.DatetimeColumn("last changed", format="YYYY-MM-DD HH:mm"),
        "summary": st.column_config.TextColumn("summary", width="large"),
    },
)
st.caption(f"{len(shown)} of {len(frame)} checks · run `{run.id[:12]}` ({run.trigger})")
if shown.empty:
    st.stop()

titles = dict(zip(frame["id"], frame["title"], strict=True))
check_id = st.selectbox("Check", list(shown["id"]), format_func=lambda i: f"{i} · {titles.get(i, i)}", key="check")
result = next(r for r in run.results if r.id == check_id)
clean = page.scrubber()

st.subheader(f"{pagetext.status_sign(result.status)} {titles.get(check_id, check_id)}")
st.markdown(
    f"**{result.status.value}** ({result.severity.value}{', waived' if result.waived else ''}): "
    f"{clean(result.result.summary)}"
)
if result.result.remediation:
    st.markdown(f"**Remediation**: {pagetext.dashboard_remediation(clean(result.result.remediation))}")

history = data.check_history(page.db_url, check_id)
change = checks_table.last_change(history)
if change is not None:
    before = f" (was {change.previous})" if change.previous else " (never anything else)"
    st.markdown(
        f"**Last changed**: {change.since:%Y-%m-%d %H:%M} UTC to {change.status}{before}, {change.runs} run(s) since"
    )
if len(history) > 1:
    st.plotly_chart(plots.sparkline(checks_table.sparkline_points(history)), key="sparkline")

left, right = st.columns(2)
with left:
    st.markdown("**Evidence**")
    st.json(checks_table.scrub_json(result.result.evidence, clean), expanded=True)
with right:
    st.markdown("**Conditions**")
    if result.result.conditions:
        st.dataframe(
            pd.DataFrame(
                [
                    {"result": "pass" if c.passed else "FAIL", "condition": c.name, "observed": clean(c.detail)}
                    for c in result.result.conditions
                ]
            ),
            hide_index=True,
        )
    else:
        st.caption("This check records no separate conditions.")

block = page.sweep_block()
if st.button("Re-run this check", key="rerun", disabled=bool(block)):
    with st.spinner(f"Running {check_id}…"):
        try:
            again = page.run_checks(only=[check_id])
        except context.NotAllowed as exc:
            st.error(f"Not run: {exc}")
            st.stop()
        except ManifestError as exc:
            st.error(f"The check could not run: the manifest is not usable.\n\n```\n{exc}\n```")
            st.stop()
    data.clear()
    fresh = next((r for r in again.results if r.id == check_id), None)
    if fresh is not None:
        said = f"Re-ran {check_id}: {fresh.status.value}: {clean(fresh.result.summary)}"
        widgets.flash(said, overview.box_for_status(fresh.status))
if block:
    st.caption(block)
