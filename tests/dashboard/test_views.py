"""checks.presentation.views and checks.presentation.plots: the dashboard's logic, without Streamlit, over
history made by the real engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from checks import Attestation, FixedClock, Status, load_manifest, parse_manifest, sweep
from checks.core.redact import Scrubber
from checks.core.result import CheckResult, Result
from checks.core.status import Severity
from checks.core.verdict import decide
from checks.presentation import plots
from checks.presentation.views import checks_table, credentials, latest, oauth, overview, trends
from checks.storage.frames import check_frame, results_frame, runs_frame
from checks.storage.history import Store
from tests.dashboard.story import D15, NOWHERE, STORY_MANIFEST, W0, W1, W2
from tests.valid_env import VALID_ENV

MANIFEST = load_manifest(STORY_MANIFEST)
NOW = datetime(2025, 10, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(history_url):
    s = Store.open(history_url)
    yield s
    s.close()


@pytest.fixture
def store2(history2_url):
    s = Store.open(history2_url)
    yield s
    s.close()


def runs_at(store):
    """The recorded runs, oldest first."""
    return [store.get_run(r.id) for r in reversed(store.runs())]


def all_pass_run(manifest=MANIFEST):
    results = [
        CheckResult(c.id, c.item, manifest.area_of(c), c.kind, c.severity, Result(Status.PASS, "ok", observed_at=W2))
        for c in manifest.all_checks
    ]
    verdict, results = decide(manifest, results, now=W2)
    from checks import Run

    return Run("r" * 32, W2, W2, manifest.digest, results, verdict)


# ------------------------------------------------------------------------------------ verdict, time


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (datetime(2025, 10, 11, 9, 0, tzinfo=UTC), "1 day 15 hours left"),
        (datetime(2025, 10, 6, 0, 0, tzinfo=UTC), "7 days left"),
        (datetime(2025, 10, 12, 23, 30, tzinfo=UTC), "0 hours left"),
        (datetime(2025, 10, 13, 17, 0, tzinfo=UTC), "today"),
        (datetime(2025, 10, 15, 10, 0, tzinfo=UTC), "passed 2 days ago"),
        (datetime(2025, 10, 14, 1, 0, tzinfo=UTC), "passed 1 day ago"),
    ],
    ids=["days-and-hours", "whole-days", "under-an-hour", "today", "passed", "passed-one"],
)
def test_time_left(now, text):
    left = overview.time_left(date(2025, 10, 13), now)
    assert left.text == text
    assert left.deadline == datetime(2025, 10, 13, tzinfo=UTC)
    assert left.overdue is text.startswith("passed")


def test_banner_no_go_names_open_gaps_and_keeps_major_apart(store):
    run = store.latest_run()
    b = overview.banner(run)
    assert b.decision == "NO-GO"
    assert b.headline == "3 of 12 blocking checks open"
    assert any("env.GHL_PROXY_API_KEY" in r for r in b.reasons)
    assert any(r.startswith("Waived until 2025-10-20 by rohan: oauth.ghl.validated") for r in b.reasons)
    assert not any(r.startswith("Major") for r in b.reasons)
    assert any(n.startswith("oauth.google.approved [pending]") for n in b.notes)
    assert b.run_id == run.id and b.started_at == D15


def test_banner_conditional_go_and_none(store2):
    b = overview.banner(store2.latest_run())
    assert (b.decision, b.headline) == ("CONDITIONAL", "1 blocking gap(s), every one covered by a waiver in force")
    go = overview.banner(all_pass_run())
    assert (go.decision, go.headline) == ("GO", "all 12 blocking checks pass")
    assert go.reasons == ["All 12 blocking checks pass"]
    none = overview.banner(None)
    assert none.decision == "NO RUN" and "Run checks now" in none.headline


# ------------------------------------------------------------------------------------------ areas


def test_area_cards_in_the_seeds_words(store):
    week0, week1, _ = runs_at(store)
    cards = {c.id: c for c in overview.area_cards(MANIFEST, week0)}
    assert [c.id for c in overview.area_cards(MANIFEST, week0)] == ["oauth", "vault", "sandboxes", "environment"]
    assert cards["oauth"].state == "NOT STARTED"
    assert cards["environment"].state == "PARTIAL"
    cards = {c.id: c for c in overview.area_cards(MANIFEST, week1)}
    assert {k: c.state for k, c in cards.items()} == {
        "oauth": "PARTIAL",
        "vault": "NEEDS VALIDATION",
        "sandboxes": "NEEDS VALIDATION",
        "environment": "PARTIAL",
    }
    assert (cards["oauth"].passed, cards["oauth"].total) == (2, 5)
    assert cards["oauth"].counts == {"fail": 2, "pending": 1, "pass": 2}
    assert cards["oauth"].caption == "2 passed, 1 pending, 2 failing of 5"
    assert cards["sandboxes"].caption == "5 passed, 5 pending of 10"
    assert cards["vault"].caption == "0 passed, 1 pending, 1 not checked of 2"  # skipped is not checked, not passed


def test_area_cards_without_a_run():
    cards = overview.area_cards(MANIFEST, None)
    assert {c.state for c in cards} == {"NOT STARTED"}
    assert sum(c.total for c in cards) == len(MANIFEST.all_checks)
    assert all(c.passed == 0 for c in cards)


# --------------------------------------------------------------------------------------- blockers


def test_blockers_say_what_they_block_and_who_owns_them(store):
    week0, week1, _ = runs_at(store)
    found = {b.item: b for b in overview.blockers(MANIFEST, week0)}
    google = found["oauth.google"]
    assert google.title == "Google OAuth application"
    assert google.blocks == ["#65", "#66"]
    assert google.owner == "Platform Team" and google.owner_scope == "Infrastructure and OAuth setup support"
    assert [c.id for c in google.checks] == ["oauth.google.submitted"]
    assert google.checks[0].status == "fail" and "readiness attest" in google.checks[0].remediation
    assert overview.blockers(MANIFEST, week0)[0].priority == "critical"

    week1_items = [b.item for b in overview.blockers(MANIFEST, week1)]
    assert week1_items == ["vault.security_review", "environment.variables"]  # critical before high
    assert "oauth.ghl" not in week1_items  # waived
    vault = overview.blockers(MANIFEST, week1)[0]
    assert vault.blocks == ["production deployment"] and vault.owner == "Security Team"
    assert overview.blockers(MANIFEST, None) == []


def test_open_escalations_with_contacts(store):
    run = store.latest_run()
    (esc,) = overview.open_escalations(MANIFEST, run, NOW)
    assert esc.title == "OAuth Approval Delays"
    assert esc.item_title == "Google OAuth application"
    assert esc.since == datetime(2025, 10, 7, tzinfo=UTC)
    assert esc.days_open == 8.4
    assert esc.contact == "Platform Team" and esc.contact_scope == "Infrastructure and OAuth setup support"
    assert overview.open_escalations(MANIFEST, runs_at(store)[1], NOW) == []


def test_criteria_ticked_per_milestone(store):
    run = store.latest_run()
    week1, week2 = overview.criteria_by_milestone(MANIFEST, run)
    assert (week1.title, week1.due, week1.met, len(week1.criteria)) == ("Week 1 Completion", date(2025, 10, 11), 3, 4)
    ticks = {c.text: c.met for c in week1.criteria}
    assert ticks["Google OAuth application created and submitted for verification"] is True
    assert ticks["Token vault architecture designed and approved by security team"] is False
    vault = next(c for c in week1.criteria if not c.met)
    assert vault.open == ["vault.security_review.approved"]
    assert week2.met == 0
    sandboxes = next(c for c in week1.criteria if c.text.startswith("Provider sandbox"))
    assert len(sandboxes.checks) == 5
    assert all(not c.met for ms in overview.criteria_by_milestone(MANIFEST, None) for c in ms.criteria)


# ------------------------------------------------------------------------------------ current run


def test_a_single_check_rerun_is_laid_over_the_last_complete_sweep(store):
    base = store.latest_run()
    store.add_attestation(Attestation("vault.security_review", "approved", "rohan", D15 + timedelta(minutes=5)))
    sweep(
        MANIFEST,
        store=store,
        clock=FixedClock(D15 + timedelta(minutes=10)),
        environ=NOWHERE,
        env_file="/dev/null",
        only=["vault.security_review.approved"],
    )
    base_id, newer = latest.pick_base_run(store.runs(limit=50), len(MANIFEST.all_checks))
    assert base_id == base.id and len(newer) == 1
    recheck = store.get_run(newer[0])
    assert len(recheck.results) == 1 and recheck.verdict.decision.value == "GO"  # alone it would mislead
    now = recheck.finished_at
    current = latest.current_run(
        MANIFEST,
        base,
        [recheck],
        now=now,
        waivers=store.waivers(),
        attestations=store.latest_attestations(now),
        status_since=store.status_since(),
    )
    assert len(current.results) == len(base.results)
    assert [r.id for r in current.results] == [r.id for r in base.results]
    by_id = {r.id: r for r in current.results}
    assert by_id["vault.security_review.approved"].status is Status.PASS
    assert current.verdict.decision.value == "NO-GO"
    assert overview.banner(current).headline == "2 of 12 blocking checks open"
    assert by_id["oauth.ghl.validated"].waived
    assert current.trigger == "cli + 1 re-run(s)"
    assert latest.current_run(MANIFEST, base, [], now=now) is base


def test_pick_base_run_without_a_complete_sweep():
    assert latest.pick_base_run([], 10) == (None, [])


# ----------------------------------------------------------------------------------------- checks


def test_check_table_and_filters(store):
    run = store.latest_run()
    changed = {cid: since for cid, (_, since) in store.status_since().items()}
    frame = checks_table.check_table(MANIFEST, run, changed)
    assert len(frame) == len(MANIFEST.all_checks)
    assert list(frame.columns) == checks_table.CHECK_COLUMNS
    ranks = [Status(s).rank for s in frame["status"]]
    assert ranks == sorted(ranks)  # worst first
    row = frame.set_index("id").loc["env.GHL_PROXY_API_KEY"]
    assert row["status"] == "fail" and row["last_changed"] == pd.Timestamp(W1)
    assert row["title"] == "GHL_PROXY_API_KEY is set and valid"
    fails = checks_table.filter_checks(frame, statuses=["fail"])
    assert set(fails["id"]) == {
        "env.GHL_PROXY_API_KEY",
        "oauth.microsoft.approved",
        "oauth.ghl.validated",
        "environment.dev_configured",
    }
    blocking_env = checks_table.filter_checks(frame, areas=["environment"], severities=["blocking"], statuses=["fail"])
    assert set(blocking_env["id"]) == {"env.GHL_PROXY_API_KEY", "environment.dev_configured"}
    assert len(checks_table.filter_checks(frame)) == len(frame)
    assert checks_table.check_table(MANIFEST, None).empty


def test_last_change_and_sparkline(store):
    history = check_frame(store, "env.GHL_PROXY_API_KEY")  # pass (W0), fail (W1), fail (Oct 15)
    change = checks_table.last_change(history)
    assert change == checks_table.LastChange("fail", W1, "pass", 2)
    google = checks_table.last_change(check_frame(store, "oauth.google.submitted"))
    assert (google.status, google.previous, google.runs) == ("pass", "fail", 2)
    points = checks_table.sparkline_points(history)
    assert list(points["status"]) == ["pass", "fail", "fail"]
    assert list(points["level"]) == [5, 1, 1]
    assert len(checks_table.sparkline_points(history, limit=2)) == 2
    assert checks_table.last_change(check_frame(store, "no.such.check")) is None


def test_scrub_json_masks_known_secrets_everywhere():
    secret = VALID_ENV["TWILIO_AUTH_TOKEN"]
    evidence = {"a": f"token {secret}", "b": [secret, 3, {"c": "Bearer abcdefghijkl"}], "n": None}
    out = checks_table.scrub_json(evidence, Scrubber([secret]))
    assert secret not in repr(out) and "abcdefghijkl" not in repr(out)
    assert out["b"][1] == 3 and out["n"] is None


def test_attestable_statuses():
    google = checks_table.attestable_statuses(MANIFEST, "oauth.google")
    assert google[:5] == ["not_created", "created", "configured", "submitted", "approved"]
    assert "rejected" in google
    assert "denied" in checks_table.attestable_statuses(MANIFEST, "sandbox.twilio")
    review = checks_table.attestable_statuses(MANIFEST, "vault.security_review")
    assert {"in_review", "approved", "conflict"} <= set(review)
    assert checks_table.attestable_statuses(MANIFEST, "environment.variables") == ["configured"]


# ------------------------------------------------------------------------------------------ OAuth


def test_oauth_lifecycle_from_attestations(store):
    atts = store.attestations()
    google = oauth.oauth_lifecycle(MANIFEST, "google", atts)
    assert google.current == "submitted" and google.since == date(2025, 10, 7)
    assert [(s.status, s.reached, s.since) for s in google.stages] == [
        ("not_created", True, None),
        ("created", True, date(2025, 10, 6)),
        ("submitted", True, date(2025, 10, 7)),
        ("approved", False, None),
    ]
    assert google.stages[2].note == "all documents sent" and google.stages[2].by == "rohan"
    ms = oauth.oauth_lifecycle(MANIFEST, "microsoft", atts)
    assert [s.status for s in ms.stages if s.reached] == ["not_created", "created"]
    rejected = [*atts, Attestation("oauth.google", "rejected", "rohan", NOW, effective=date(2025, 10, 14))]
    life = oauth.oauth_lifecycle(MANIFEST, "google", rejected)
    assert life.stages[-1].status == "rejected" and life.stages[-1].reached
    nothing = oauth.oauth_lifecycle(MANIFEST, "google", [])
    assert nothing.current == "not_created" and [s.reached for s in nothing.stages] == [True, False, False, False]


def test_redirect_rows_pair_each_uri_with_its_probe():
    text = STORY_MANIFEST.read_text()
    text += (
        '\n[[checks]]\nid = "oauth.google.redirect.dev"\nitem = "oauth.google"\nkind = "oauth_google"\n'
        'params = { probe = "redirect", environment = "dev" }\n'
    )
    m = parse_manifest(text, source="probe.toml")
    rows = oauth.redirect_rows(m, "google", None)
    assert [(r.environment, r.check, r.status, r.summary) for r in rows] == [
        ("dev", "oauth.google.redirect.dev", None, "not run yet"),
        ("staging", None, None, "no probe"),
        ("app", None, None, "no probe"),
    ]
    assert rows[0].uri == "https://dev.maxai-platform.com/api/auth/oauth/google/callback"
    result = CheckResult(
        "oauth.google.redirect.dev",
        "oauth.google",
        "oauth",
        "oauth_google",
        Severity.BLOCKING,
        Result(Status.FAIL, "Google answers redirect_uri_mismatch"),
    )
    run = replace(all_pass_run(m), results=[result])
    dev = oauth.redirect_rows(m, "google", run)[0]
    assert (dev.status, dev.summary) == ("fail", "Google answers redirect_uri_mismatch")
    assert [r.check for r in oauth.redirect_rows(m, "microsoft", run)] == [None, None, None]


def test_gantt_rows_attested_against_expected(store):
    rows = oauth.gantt_rows(MANIFEST, store.attestations(), NOW)
    google = [r for r in rows if r.app == "Google OAuth Application"]
    assert [(r.phase, r.kind) for r in google] == [
        ("setup", "attested"),
        ("approval", "ongoing"),
        ("expected approval", "expected"),
    ]
    setup, approval, expected = google
    assert (setup.start, setup.finish) == (datetime(2025, 10, 6, tzinfo=UTC), datetime(2025, 10, 7, tzinfo=UTC))
    assert (approval.start, approval.finish) == (datetime(2025, 10, 7, tzinfo=UTC), NOW)
    submitted = datetime(2025, 10, 7, tzinfo=UTC)
    assert expected.start == submitted + timedelta(days=3 * 7 / 5)  # 3-7 business days
    assert expected.finish == submitted + timedelta(days=7 * 7 / 5)
    microsoft = [r for r in rows if r.app == "Microsoft OAuth Application"]
    assert [(r.phase, r.kind) for r in microsoft] == [("setup", "ongoing"), ("expected approval", "expected")]
    assert microsoft[1].start == NOW + timedelta(days=1 * 7 / 5) and "if submitted now" in microsoft[1].detail


def test_gantt_rows_after_approval(store2):
    rows = oauth.gantt_rows(MANIFEST, store2.attestations(), W2)
    approval = next(r for r in rows if r.app == "Google OAuth Application" and r.phase == "approval")
    assert approval.kind == "attested" and approval.detail == "submitted → approved"
    assert approval.finish == datetime(2025, 10, 15, 10, 0, tzinfo=UTC)


# ----------------------------------------------------------------------------------------- trends


def test_blocking_share_and_checkpoints(store):
    series = trends.blocking_share(runs_frame(store))
    assert list(series["verdict"]) == ["NO-GO", "NO-GO", "NO-GO"]
    assert series["share"].round(1).tolist() == [16.7, 66.7, 66.7]
    marks = trends.checkpoint_points(store.checkpoints())
    assert [(m.title, round(m.share, 1), m.verdict) for m in marks] == [
        ("Week 0", 16.7, "NO-GO"),
        ("Week 1", 66.7, "NO-GO"),
    ]


def test_heatmap_frame_in_the_seeds_words(store2):
    frame = trends.heatmap_frame(results_frame(store2), MANIFEST, "D")
    assert list(frame.columns) == ["bucket", "area", "title", "state", "level", "passed", "total"]
    assert list(dict.fromkeys(frame["area"])) == ["oauth", "vault", "sandboxes", "environment"]
    oauth = frame[frame["area"] == "oauth"]
    assert list(oauth["state"]) == ["NOT STARTED", "PARTIAL", "PARTIAL", "PARTIAL"]
    assert list(oauth["bucket"]) == [
        pd.Timestamp(d, tz="UTC") for d in ("2025-10-06", "2025-10-11", "2025-10-15", "2025-10-18")
    ]
    vault = frame[frame["area"] == "vault"]
    assert list(vault["state"]) == ["NOT STARTED", "NEEDS VALIDATION", "NEEDS VALIDATION", "READY"]
    assert list(vault["level"]) == [0, 2, 2, 3]
    weekly = trends.heatmap_frame(results_frame(store2), MANIFEST, "7D")
    assert len(weekly) < len(frame)
    assert trends.heatmap_frame(results_frame(store2).iloc[0:0], MANIFEST).empty


def test_heatmap_freq():
    t = datetime(2025, 1, 1, tzinfo=UTC)
    assert trends.heatmap_freq(t, t + timedelta(days=2)) == "h"
    assert trends.heatmap_freq(t, t + timedelta(days=30)) == "D"
    assert trends.heatmap_freq(t, t + timedelta(days=365)) == "7D"


def test_time_to_green(store2):
    frame = trends.time_to_green(results_frame(store2), MANIFEST, W2 + timedelta(hours=1)).set_index("item")
    google = frame.loc["oauth.google"]
    assert bool(google["green"]) and google["green_since"] == pd.Timestamp(W2)
    assert google["days"] == pytest.approx(12.0)
    twilio = frame.loc["sandbox.twilio"]
    assert not bool(twilio["green"]) and pd.isna(twilio["green_since"])
    assert twilio["days"] == pytest.approx(12 + 1 / 24)
    assert list(frame.index) == [i.id for i in MANIFEST.items if i.id in frame.index]
    assert trends.time_to_green(results_frame(store2).iloc[0:0], MANIFEST, W2).empty


def test_green_since_counts_from_the_last_regression(sqlite_url, tmp_path):
    store = Store.open(sqlite_url)
    try:
        env = {**NOWHERE, **VALID_ENV}
        for n, at in enumerate((W0, W1, D15, W2)):
            broken = {**env, "GHL_PROXY_API_KEY": "changeme"} if n == 1 else env
            sweep(
                MANIFEST,
                store=store,
                clock=FixedClock(at),
                environ=broken,
                env_file="/dev/null",
                only=[c.id for c in MANIFEST.all_checks if c.id.startswith("env.")],
            )
        frame = trends.time_to_green(results_frame(store), MANIFEST, W2).set_index("item")
    finally:
        store.close()
    row = frame.loc["environment.variables"]
    assert row["green_since"] == pd.Timestamp(D15)  # green, red, green, green
    assert row["days"] == pytest.approx((D15 - W0).total_seconds() / 86400)


def test_expiring_credentials():
    creds = pd.DataFrame(
        {
            "account": ["a", "b", "c", "d"],
            "state": ["active", "active", "revoked", "active"],
            "expires_at": [NOW + timedelta(hours=2), NOW + timedelta(days=3), NOW + timedelta(hours=1), None],
        }
    )
    soon = credentials.expiring_credentials(creds, NOW)
    assert list(soon["account"]) == ["a"]
    assert list(credentials.expiring_credentials(creds, NOW, timedelta(days=4))["account"]) == ["a", "b"]
    assert credentials.expiring_credentials(creds.iloc[0:0], NOW).empty


# ------------------------------------------------------------------------------------------ plots


def test_blocking_trend_figure_marks_checkpoints(store):
    series = trends.blocking_share(runs_frame(store))
    marks = trends.checkpoint_points(store.checkpoints())
    fig = plots.blocking_trend(series, marks)
    line, nogo, cps = fig.data
    assert line.name == "blocking checks passing" and len(line.x) == 3
    assert nogo.name == "NO-GO" and nogo.marker.color == plots.VERDICT_COLOR["NO-GO"] and len(nogo.x) == 3
    assert cps.name == "checkpoints" and cps.marker.symbol == "diamond"
    assert list(cps.text) == ["Week 0", "Week 1"]
    assert len(fig.layout.shapes) == 2  # a dotted line per checkpoint
    assert [t.name for t in plots.blocking_trend(series).data] == ["blocking checks passing", "NO-GO"]


def test_blocking_trend_colours_each_verdict(store2):
    fig = plots.blocking_trend(trends.blocking_share(runs_frame(store2)))
    assert [(t.name, len(t.x)) for t in fig.data] == [
        ("blocking checks passing", 4),
        ("CONDITIONAL", 1),
        ("NO-GO", 3),
    ]


def test_status_heatmap_figure(store2):
    fig = plots.status_heatmap(trends.heatmap_frame(results_frame(store2), MANIFEST))
    (heat,) = fig.data
    assert heat.type == "heatmap"
    assert list(heat.y) == [a.title for a in MANIFEST.areas]
    assert list(heat.x) == ["2025-10-06", "2025-10-11", "2025-10-15", "2025-10-18"]
    assert list(heat.colorbar.ticktext) == list(trends.AREA_STATES)
    assert list(heat.z[1]) == [0, 2, 2, 3]  # the vault area
    assert heat.text[1][3] == "READY (2/2)"
    empty = plots.status_heatmap(trends.heatmap_frame(results_frame(store2).iloc[0:0], MANIFEST))
    assert len(empty.data) == 1


def test_time_to_green_figure(store2):
    frame = trends.time_to_green(results_frame(store2), MANIFEST, W2)
    fig = plots.time_to_green(frame)
    green, red = fig.data
    assert (green.name, red.name) == ("green", "not green yet")
    assert "Google OAuth application" in green.y and "Twilio development account" in red.y
    assert len(green.y) + len(red.y) == len(frame)


def test_approval_gantt_figure(store):
    rows = oauth.gantt_rows(MANIFEST, store.attestations(), NOW)
    fig = plots.approval_gantt(rows, now=NOW)
    assert [t.name for t in fig.data] == ["expected approval", "attested", "ongoing"]
    expected = fig.data[0]
    assert list(expected.y) == ["Google OAuth Application", "Microsoft OAuth Application"]
    assert expected.x[0] == pytest.approx(4 * 7 / 5 * 86400 * 1000)  # 3-7 business days: a 5.6-day window
    assert fig.layout.xaxis.type == "date" and len(fig.layout.shapes) == 1  # the "now" line
    assert set(fig.data[2].text) == {"approval", "setup"}


def test_sparkline_and_credentials_figures(store):
    points = checks_table.sparkline_points(check_frame(store, "env.GHL_PROXY_API_KEY"))
    (line,) = plots.sparkline(points).data
    assert list(line.y) == [5, 1, 1]
    assert list(line.marker.color) == [
        plots.STATUS_COLOR["pass"],
        plots.STATUS_COLOR["fail"],
        plots.STATUS_COLOR["fail"],
    ]
    fig = plots.credentials_by_provider({"google": {"active": 2, "needs_reauth": 1}, "microsoft": {"active": 1}})
    assert [t.name for t in fig.data] == ["active", "needs_reauth"]
    assert list(fig.data[0].x) == ["google", "microsoft"] and list(fig.data[0].y) == [2, 1]
    assert list(fig.data[1].y) == [1, 0]
    assert fig.layout.barmode == "stack"


def test_a_finished_sweep_is_green_only_when_it_is_go():
    from checks.core.run import Decision

    assert [overview.box_for_decision(d) for d in Decision] == ["success", "warning", "error"]
    assert overview.box_for_decision("NO-GO") == "error"
    assert {s.value: overview.box_for_status(s) for s in Status} == {
        "error": "error",
        "fail": "error",
        "pending": "warning",
        "warn": "warning",
        "skipped": "warning",
        "pass": "success",
    }


# ------------------------------------------------------------------------------------ notifications


def _note(at, status="sent", event="verdict"):
    from checks.storage.notifications import Notification

    return Notification(
        at=at, event=event, key=event, transition="opened", channel="c", title="t", body="b", status=status
    )


def test_notification_summary_counts_the_last_seven_days_only():
    from datetime import UTC, datetime, timedelta

    from checks.presentation.views.notifications import summary

    now = datetime(2025, 10, 15, 10, tzinfo=UTC)
    notes = [
        _note(now - timedelta(days=7)),  # exactly at the window's start: counted
        _note(now - timedelta(days=7, seconds=1)),  # just before: not
        _note(now - timedelta(hours=1), "failed"),
        _note(now + timedelta(seconds=1)),  # after now (another clock): not
    ]
    s = summary(notes, now)
    assert s.counts == {"sent": 1, "failed": 1}
    assert s.failed == 1
    assert s.text == "2 notifications in the last 7 days: 1 sent, 1 failed."
    assert summary([], now).text == "No notification in the last 7 days."
    assert summary(notes[2:3], now).text == "1 notification in the last 7 days: 1 failed."


def test_daily_counts_fill_every_day_of_the_window_with_zeros():
    from datetime import UTC, date, datetime, timedelta

    from checks.presentation.views.notifications import daily_counts

    now = datetime(2025, 10, 15, 10, tzinfo=UTC)
    notes = [
        _note(now - timedelta(hours=2)),
        _note(now - timedelta(hours=3), "failed"),
        _note(now - timedelta(hours=4)),
        _note(now - timedelta(days=2)),
        _note(now - timedelta(days=30)),  # outside a 30-day window ending today
    ]
    frame = daily_counts(notes, now, days=30)
    assert len(frame) == 30 * 2  # every day, for each status seen in the window
    assert frame["day"].min() == date(2025, 9, 16) and frame["day"].max() == date(2025, 10, 15)
    today = frame[frame["day"] == date(2025, 10, 15)].set_index("status")["count"].to_dict()
    assert today == {"sent": 2, "failed": 1}
    assert int(frame["count"].sum()) == 4
    assert list(frame["status"].unique()) == ["sent", "failed"]
