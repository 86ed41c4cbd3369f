"""Notifications: every message the watcher sent (or failed to send, or held back), and the alerts still open."""

import streamlit as st

from checks.presentation import plots
from checks.presentation.views import notifications
from dashboard import context, data

page = context.load()
m = page.manifest
st.title("Notifications")
clean = page.scrubber()
now = page.now()

notes = data.notifications(page.db_url)
alerts = data.open_alerts(page.db_url)

st.subheader("Open alerts")
rows = notifications.open_alert_rows(alerts, clean)
if rows:
    st.dataframe(rows, hide_index=True, height="content")
    st.caption("Announced by the watcher and not yet resolved: each gets one “resolved” message when it clears.")
else:
    st.caption("No open alert: nothing the watcher announced is still unresolved.")

st.subheader("Messages")
if not notes:
    st.info(
        "No notification stored yet: `readiness watch` stores every message it sends (and every one it could "
        "not send) here. Channels and routes are declared in the manifest's [notify] table (docs/watch.md)."
    )
    st.stop()

week = notifications.summary(notes, now)
if week.failed:
    st.warning(
        f"{week.text} Failed deliveries: see the error column; the channel's URL comes from the environment "
        "variable the manifest's [notify] table names."
    )
else:
    st.caption(week.text)

daily = notifications.daily_counts(notes, now)
if not daily.empty:
    st.plotly_chart(plots.notifications_per_day(daily), key="per_day")

c1, c2 = st.columns(2)
statuses = sorted(
    {n.status for n in notes},
    key=lambda s: notifications.STATUSES.index(s) if s in notifications.STATUSES else len(notifications.STATUSES),
)
pick_status = c1.multiselect("Status", statuses, key="n_status")
pick_event = c2.multiselect("Event", sorted({n.event for n in notes}), key="n_event")
table = notifications.notification_table(notes, clean, pick_status, pick_event)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "title": st.column_config.TextColumn("title", width="large"),
        "error": st.column_config.TextColumn("error", width="medium"),
    },
)
st.caption(f"{len(table)} of {len(notes)} latest notifications")
