"""Checkpoint: freeze a run for the weekly meeting, see what changed, record the decision, download the report."""

import pandas as pd
import streamlit as st

from checks import ReadinessError
from checks.core.run import Decision
from checks.presentation import pagetext
from checks.presentation.report_build import build_report, record_checkpoint
from checks.presentation.report_html import render_html
from checks.presentation.report_markdown import render_markdown
from checks.presentation.views import latest
from dashboard import context, data, widgets

page = context.load()
m = page.manifest
st.title("Checkpoint")
widgets.show_flash()
widgets.write_notice(page)
block = page.write_block()
now = page.now()

base_id, _ = latest.pick_base_run(page.store.runs(limit=50), len(m.all_checks))
if base_id is None:
    st.info("No run recorded yet: press “Run checks now” on the Overview, or run `readiness check`.")
    st.stop()

st.subheader("Record a checkpoint")
with st.form("checkpoint"):
    title = st.text_input("Title", value=f"{m.release.next_review_title or 'Checkpoint'} {now.date().isoformat()}")
    st.caption(
        f"Freezes run `{base_id[:12]}` (the latest complete sweep) with the waivers in force and the "
        "latest attestations."
    )
    record = st.form_submit_button("Record checkpoint", disabled=bool(block))
if record:
    if block or page.who is None:
        st.error("Not recorded: this session may not write. " + (block or ""))
    else:
        cp = record_checkpoint(m, page.store, run=base_id, title=title.strip() or None, now=now)
        data.clear()
        widgets.flash(f"Checkpoint #{cp.id} “{cp.title}” recorded: {cp.snapshot['verdict']}.")

checkpoints = data.checkpoints(page.db_url)
labels = {None: f"Latest run ({base_id[:12]})"} | {
    cp.id: f"#{cp.id} {cp.title} ({pagetext.format_utc(cp.at)})" for cp in checkpoints
}
chosen = st.selectbox("Report on", list(labels), format_func=lambda k: labels[k], key="report_on")
run_id = base_id if chosen is None else next(cp.run_id for cp in checkpoints if cp.id == chosen)
try:
    report = build_report(m, page.store, run=run_id, now=now)
except ReadinessError as exc:
    st.error(str(exc))
    st.stop()

st.subheader("Changes since the previous checkpoint")
changes = report.changes
if changes.baseline is None:
    st.info(changes.note)
else:
    st.caption(f"Compared with {changes.baseline.label}: {changes.baseline.verdict} → {report.decision.value}")
    for name, found in [
        ("Newly green", changes.newly_green),
        ("Regressed", changes.regressed),
        ("Newly waived", changes.newly_waived),
        ("Still blocking", changes.still_blocking),
    ]:  # one full-width row each: four narrow columns broke the check ids mid-word
        widgets.change_list(name, found, report.item_titles)

st.subheader("Go/no-go decision")
if not checkpoints:
    st.caption("Record a checkpoint first: the decision is taken on one.")
else:
    names = {cp.id: f"#{cp.id} {cp.title} ({cp.snapshot.get('verdict')})" for cp in checkpoints}
    with st.form("decision"):
        target = st.selectbox("Checkpoint", list(names), format_func=lambda k: names[k], key="decision_cp")
        options = [d.value for d in Decision]
        proposed = str(checkpoints[0].snapshot.get("verdict"))
        decision = st.radio(
            "Decision",
            options,
            index=options.index(proposed) if proposed in options else 0,
            horizontal=True,
            key="decision_value",
            help="Preset to the newest checkpoint's verdict",
        )
        rationale = st.text_area("Rationale", key="decision_rationale")
        if page.who is not None:
            st.caption(f"Recorded as **{page.who.name}** ({page.who.source}).")
        decide = st.form_submit_button("Record decision", disabled=bool(block))
    if decide:
        if block or page.who is None:
            st.error("Not recorded: this session may not write. " + (block or ""))
        elif not rationale.strip():
            st.error("Not recorded: give the rationale (it goes into the record with the decision).")
        else:
            page.store.record_decision(target, decision, page.who.name, now, rationale.strip())
            data.clear()
            widgets.flash(f"Decision {decision} recorded on checkpoint #{target} by {page.who.name}.")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "checkpoint": cp.id,
                    "title": cp.title,
                    "at": pagetext.format_utc(cp.at),
                    "verdict": cp.snapshot.get("verdict") or "",
                    "decision": cp.decision or "",
                    "by": cp.decided_by or "",
                    "decided at": pagetext.format_utc(cp.decided_at),
                    "rationale": cp.rationale or "",
                }
                for cp in checkpoints
            ]
        ),
        hide_index=True,
        height="content",
    )

st.subheader("Report")
stem = f"{m.release.story}-{report.run.started_at:%Y-%m-%d}"
left, right = st.columns(2)
left.download_button(
    "Download Markdown", data=lambda: render_markdown(report), file_name=f"{stem}.md", mime="text/markdown", key="dl_md"
)
right.download_button(
    "Download HTML",
    data=lambda: render_html(report, page.store),
    file_name=f"{stem}.html",
    mime="text/html",
    key="dl_html",
)
