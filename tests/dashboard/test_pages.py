"""Every dashboard page through Streamlit's AppTest, over history made by the real engine (see story.py).

Pages run in-process as they would under ``streamlit run``: configuration comes from the environment
(READINESS_MANIFEST, READINESS_DB_URL, READINESS_DASHBOARD_ROLE/USER/NOW, TOKEN_VAULT_*), writes go to the
store and are checked there afterwards.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from checks.storage.history import Store
from tests.dashboard.story import NOWHERE, ROOT, copy_manifest
from tests.valid_env import VALID_ENV
from vault import Actor, Role, StaticKeySource, Vault

DASH = ROOT / "dashboard"
PAGES = ["overview.py", "checks_page.py", "trends.py", "oauth.py", "vault_page.py", "checkpoint.py"]
NOW = "2025-10-15T10:00:00+00:00"
TIMEOUT = 60


@pytest.fixture
def env(monkeypatch, history_url, manifest_path):
    for name in list(os.environ):
        if name.startswith("READINESS_DASHBOARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("READINESS_DB_URL", history_url)
    monkeypatch.setenv("READINESS_MANIFEST", str(manifest_path))
    monkeypatch.setenv("READINESS_DASHBOARD_NOW", NOW)
    monkeypatch.setenv("READINESS_STANDINS_URL", NOWHERE["READINESS_STANDINS_URL"])
    return SimpleNamespace(db=history_url, manifest=manifest_path, mp=monkeypatch)


def as_role(env, role, user="Rohan Patel"):
    env.mp.setenv("READINESS_DASHBOARD_ROLE", role)
    env.mp.setenv("READINESS_DASHBOARD_USER", user)


def render(name, run=True):
    at = AppTest.from_file(str(DASH / name), default_timeout=TIMEOUT)
    if run:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def text(at):
    """Every piece of text a person would read on the page."""
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "success", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(parts)


def html(at):
    """The page's ``st.html`` bodies (the verdict and area badges)."""
    return "\n".join(h.proto.body for h in at.get("html"))


def store_of(env):
    return Store.open(env.db)


# ------------------------------------------------------------------------------------------ overview


def test_overview_shows_the_verdict_and_its_reasons(env):
    at = render("overview.py")
    page = text(at)
    assert "### 3 of 12 blocking checks open" in page
    verdict = html(at)
    assert 'class="readiness-verdict" data-state="NO-GO"' in verdict and "background:#cf222e" in verdict
    assert "release blocked" in verdict  # in words, not colour alone
    assert "GHL_PROXY_API_KEY is a placeholder" in page
    assert "Waived until 2025-10-20 by rohan: oauth.ghl.validated [fail] (proxy validated next week)" in page
    assert at.expander[0].label == "9 major gap(s), named but not blocking"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Decision point"] == "passed 2 days ago"
    assert metrics["Blocking checks passing"] == "8 of 12"  # 3 open, 1 waived
    assert not at.error


def test_overview_counts_down_to_the_decision_point(env):
    env.mp.setenv("READINESS_DASHBOARD_NOW", "2025-10-11T09:00:00+00:00")
    at = render("overview.py")
    assert {m.label: m.value for m in at.metric}["Decision point"] == "1 day 15 hours left"


def test_overview_area_cards_in_the_seeds_words(env):
    at = render("overview.py")
    page = text(at)
    for title, state, caption in [
        ("OAuth Application Registrations", "PARTIAL", "2 passed, 1 pending, 2 failing of 5"),
        ("Token Vault Service Architecture", "NEEDS VALIDATION", "0 passed, 1 pending, 1 not checked of 2"),
        ("Provider Sandbox Accounts", "NEEDS VALIDATION", "5 passed, 5 pending of 10"),
        ("Development Environment Setup", "PARTIAL", "12 passed, 1 not checked, 2 failing of 15"),
    ]:
        assert f"**{title}**\n:" in page or f"**{title}**" in page
        assert f'class="readiness-state" data-state="{state}"' in html(at)
        assert caption in page


def test_overview_blockers_escalations_and_criteria(env):
    page = text(render("overview.py"))
    assert (
        "**Token vault architecture designed and approved by security team** (critical) · blocks "
        "**production deployment** · owner **Security Team**"
    ) in page
    assert "**Required environment variables** (high) · owner **Platform Team**" in page
    assert "`environment.dev_configured` [fail]" in page
    assert "`oauth.ghl.validated`" not in page.split("Blockers")[-1].split("Escalations")[0]  # waived
    assert "**OAuth Approval Delays**: Google OAuth application, since 2025-10-07 (8.4 days)" in page
    assert "contact **Platform Team** (Infrastructure and OAuth setup support)" in page
    assert "**Week 1 Completion** (due 2025-10-11): 3 of 4 met" in page
    assert "- :green[:material/check_circle:] **met** Google OAuth application created and submitted" in page
    assert "- :red[:material/radio_button_unchecked:] **open** Token vault architecture designed and approved" in page
    assert "**Week 2 Completion** (due 2025-10-18): 0 of 4 met" in page


def test_run_checks_now_on_an_empty_database(env, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    env.mp.setenv("READINESS_DB_URL", url)
    as_role(env, "release_manager")  # a sweep is a write (tests/dashboard/test_access.py: viewers cannot)
    at = render("overview.py")
    assert ">NO RUN<" in html(at) and "nothing checked yet" in html(at)
    at.button[0].click().run()
    assert not at.exception
    assert "Run finished: NO-GO, 32 checks." in [e.value for e in at.error]
    assert not any("NO-GO" in s.value for s in at.success)  # never in a green box
    page = text(at)
    assert "**Google OAuth application** (critical) · blocks **#65, #66** · owner **Platform Team**" in page
    assert ">NO-GO<" in html(at)
    with Store.open(url) as store:
        (run,) = store.runs()
    assert run.trigger == "dashboard" and run.total == 32
    assert run.started_at == datetime.fromisoformat(NOW)  # the pinned clock


def test_run_checks_now_under_a_pinned_clock_shows_the_new_run(env, history2_url):
    """The demo's pinned clock: the new sweep starts at the very instant of the last recorded ones (CONDITIONAL,
    copied 30 times under random ids). The verdict card must show the new NO-GO, now and after a reload."""
    import uuid
    from dataclasses import replace

    env.mp.setenv("READINESS_DB_URL", history2_url)
    with Store.open(history2_url) as store:
        last = store.latest_run()
        for _ in range(30):
            store.record_run(replace(last, id=uuid.uuid4().hex))
    env.mp.setenv("READINESS_DASHBOARD_NOW", last.started_at.isoformat())
    as_role(env, "release_manager")
    at = render("overview.py")
    assert ">CONDITIONAL<" in html(at)
    at.button(key="run_now").click().run()
    assert not at.exception
    assert "Run finished: NO-GO, 32 checks." in [e.value for e in at.error]
    assert not at.success
    assert ">NO-GO<" in html(at) and ">CONDITIONAL<" not in html(at)
    again = html(render("overview.py"))
    assert ">NO-GO<" in again and ">CONDITIONAL<" not in again
    with Store.open(history2_url) as store:
        newest = store.runs(limit=1)[0]
    assert (newest.trigger, newest.started_at) == ("dashboard", last.started_at)


# -------------------------------------------------------------------------------------------- checks


def test_checks_page_filters_and_shows_one_check(env):
    at = render("checks_page.py")
    assert len(at.dataframe[0].value) == 32
    at.multiselect(key="f_status").select("fail").run()
    table = at.dataframe[0].value
    assert len(table) == 4 and all(s.endswith("fail") for s in table["status"])
    at.multiselect(key="f_severity").select("blocking").run()
    assert sorted(at.dataframe[0].value["id"]) == [
        "env.GHL_PROXY_API_KEY",
        "environment.dev_configured",
        "oauth.ghl.validated",
    ]
    at.selectbox(key="check").select("env.GHL_PROXY_API_KEY").run()
    page = text(at)
    assert "**fail** (blocking): GHL_PROXY_API_KEY is a placeholder word" in page
    assert "**Last changed**: 2025-10-11 09:00 UTC to fail (was pass), 2 run(s) since" in page
    evidence = at.json[0].value
    assert '"variable": "GHL_PROXY_API_KEY"' in evidence and "fp:" in evidence
    assert VALID_ENV["GHL_PROXY_API_KEY"] not in evidence
    assert len(at.get("plotly_chart")) == 1  # the sparkline


def test_rerun_one_check(env):
    with store_of(env) as store:
        from checks import Attestation

        store.add_attestation(
            Attestation("environment.variables", "configured", "rohan", datetime(2025, 10, 15, 9, 30, tzinfo=UTC))
        )
    as_role(env, "release_manager")
    at = render("checks_page.py")
    at.selectbox(key="check").select("environment.dev_configured").run()
    at.button(key="rerun").click().run()
    assert not at.exception
    assert any(s.value.startswith("Re-ran environment.dev_configured: pass") for s in at.success)
    with store_of(env) as store:
        latest = store.runs(limit=1)[0]
    assert latest.total == 1 and latest.trigger == "dashboard"
    page = text(render("overview.py"))
    assert "2 of 12 blocking checks open" in page  # the re-run is laid over the last full sweep


def test_rerun_that_fails_is_not_announced_in_green(env):
    as_role(env, "release_manager")
    at = render("checks_page.py")
    at.selectbox(key="check").select("env.GHL_PROXY_API_KEY").run()
    at.button(key="rerun").click().run()
    assert not at.exception
    assert any(e.value.startswith("Re-ran env.GHL_PROXY_API_KEY: fail") for e in at.error)
    assert not any(s.value.startswith("Re-ran") for s in at.success)


# -------------------------------------------------------------------------------------------- trends


def test_trends_draws_four_charts(env):
    at = render("trends.py")
    charts = at.get("plotly_chart")
    assert len(charts) == 4
    specs = [c.proto.spec for c in charts]
    assert "blocking checks passing" in specs[0] and "Week 1" in specs[0]
    assert "heatmap" in specs[1] and "NEEDS VALIDATION" in specs[1]
    assert "Time to green per item" in specs[2]
    assert "expected approval" in specs[3]
    assert not at.dataframe  # charts, not tables


def test_trends_period_picks_what_is_drawn(env):
    # weeks 0-1 and Oct 15: 30 days (the default) holds every run, drawn run by run
    at = render("trends.py")
    assert at.radio(key="period").value == "30 days"
    assert list(at.radio(key="period").options) == ["7 days", "30 days", "90 days", "All"]
    first = at.get("plotly_chart")[0].proto.spec
    assert "Week 0" in first and "Week 1" in first and "per day" not in first
    assert "rangeselector" in first
    at.radio(key="period").set_value("7 days").run()
    assert not at.exception
    first = at.get("plotly_chart")[0].proto.spec
    assert "Week 1" in first and "Week 0" not in first  # Oct 6 is more than 7 days before Oct 15
    at.radio(key="period").set_value("All").run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 4
    assert "Blocking checks passing, per day" in charts[0].proto.spec and "Week 0" in charts[0].proto.spec
    assert "A point per day" in text(at)


def test_trends_reads_the_rollups_not_a_row_per_run_and_item(env):
    # 7 and 30 days draw a heatmap cell per day, which the daily rows hold: reading run_items joined to the runs was
    # the page's slowest query on a year of history (PostgreSQL scanned every run_items row). No period reads results.
    import sqlalchemy as sa

    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        at = render("trends.py")
        for period in ("7 days", "90 days", "All"):
            at.radio(key="period").set_value(period).run()
            assert not at.exception
            assert len(at.get("plotly_chart")) == 4
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    assert any("FROM daily_items" in s for s in seen) and any("FROM runs" in s for s in seen)
    assert not [s for s in seen if "run_items" in s or "FROM results" in s]


# --------------------------------------------------------------------------------------------- OAuth


def test_oauth_page_shows_lifecycle_uris_and_scopes(env):
    page = text(render("oauth.py"))
    assert (
        "**Lifecycle** (attested): :green[:material/check_circle:] created 2025-10-06 → "
        ":green[:material/check_circle:] submitted 2025-10-07 → :gray[:material/radio_button_unchecked:] approved "
        "(not yet)"
    ) in page
    assert "Now: **submitted** since 2025-10-07" in page
    assert "`https://www.googleapis.com/auth/calendar.readonly`" in page
    at = render("oauth.py")
    uris = at.dataframe[1].value
    assert list(uris["environment"]) == ["dev", "staging", "app"]
    assert uris["uri"][0] == "https://dev.maxai-platform.com/api/auth/oauth/google/callback"


def test_attest_form_writes_an_attestation_by_the_operator(env):
    as_role(env, "release_manager")
    at = render("oauth.py")
    at.selectbox(key="attest_item").select("oauth.microsoft").run()
    at.selectbox(key="attest_status").select("submitted")
    at.date_input(key="attest_date").set_value(date(2025, 10, 14))
    at.text_input(key="attest_note").input("submitted with screenshots")
    at.button(key="FormSubmitter:attest-Attest").click().run()
    assert not at.exception
    assert "Attested oauth.microsoft: submitted (effective 2025-10-14) by Rohan Patel." in [s.value for s in at.success]
    with store_of(env) as store:
        att = store.attestations("oauth.microsoft")[-1]
    assert (att.status, att.by, att.effective, att.note) == (
        "submitted",
        "Rohan Patel",
        date(2025, 10, 14),
        "submitted with screenshots",
    )
    assert att.at == datetime.fromisoformat(NOW)
    assert ":green[:material/check_circle:] submitted 2025-10-14" in text(at)  # the page redrew with it


def test_waive_form_writes_a_waiver_by_the_operator(env):
    as_role(env, "admin", user="ops-lead")
    at = render("oauth.py")
    at.selectbox(key="waive_check").select("env.GHL_PROXY_API_KEY")
    at.text_input(key="waive_reason").input("key rotates Friday")
    at.date_input(key="waive_until").set_value(date(2025, 10, 20))
    at.button(key="FormSubmitter:waive-Waive").click().run()
    assert not at.exception
    assert "Waived env.GHL_PROXY_API_KEY until 2025-10-20 by ops-lead: key rotates Friday" in [
        s.value for s in at.success
    ]
    with store_of(env) as store:
        w = store.waivers()[-1]
    assert (w.check, w.by, w.reason) == ("env.GHL_PROXY_API_KEY", "ops-lead", "key rotates Friday")
    assert w.until == datetime(2025, 10, 20, 23, 59, 59, tzinfo=UTC)


def test_waive_form_needs_a_reason(env):
    as_role(env, "release_manager")
    at = render("oauth.py")
    at.button(key="FormSubmitter:waive-Waive").click().run()
    assert "Not recorded: a waiver needs a check and a reason." in [e.value for e in at.error]
    with store_of(env) as store:
        assert len(store.waivers()) == 1  # the story's own


@pytest.mark.parametrize("role", ["viewer", "auditor"])
def test_read_only_roles_cannot_write(env, role):
    as_role(env, role)
    at = render("oauth.py")
    assert any(f"role **{role}**, which may only read" in i.value for i in at.info)
    assert at.button(key="FormSubmitter:attest-Attest").disabled
    assert at.button(key="FormSubmitter:waive-Waive").disabled
    with pytest.raises(Exception, match="disabled"):  # a browser could not press it either
        at.button(key="FormSubmitter:waive-Waive").click()
    cp = render("checkpoint.py")
    assert cp.button(key="FormSubmitter:checkpoint-Record checkpoint").disabled
    assert cp.button(key="FormSubmitter:decision-Record decision").disabled


def test_writing_needs_an_identity(env):
    env.mp.setenv("READINESS_DASHBOARD_ROLE", "release_manager")
    at = render("oauth.py")
    assert any("set READINESS_DASHBOARD_USER" in i.value for i in at.info)
    assert at.button(key="FormSubmitter:attest-Attest").disabled


def test_viewer_is_the_default_role(env):
    at = render("oauth.py")
    assert any("role **viewer**" in i.value for i in at.info)
    assert "role **viewer**" in "\n".join(c.value for c in at.sidebar.caption)


# ---------------------------------------------------------------------------------------- checkpoint


def test_checkpoint_page_records_a_checkpoint_and_a_decision(env):
    as_role(env, "release_manager")
    at = render("checkpoint.py")
    page = text(at)
    assert "**Still blocking** (3)" in page
    assert 'Compared with checkpoint #2 "Week 1"' in page
    title = next(t for t in at.text_input if t.label == "Title")
    title.input("Infrastructure status checkpoint Oct 15")
    at.button(key="FormSubmitter:checkpoint-Record checkpoint").click().run()
    assert not at.exception
    assert any(
        s.value.startswith("Checkpoint #3 “Infrastructure status checkpoint Oct 15” recorded: NO-GO")
        for s in at.success
    )
    with store_of(env) as store:
        cp = store.checkpoints()[0]
    assert cp.title == "Infrastructure status checkpoint Oct 15" and cp.at == datetime.fromisoformat(NOW)

    at.selectbox(key="decision_cp").select(cp.id)
    at.radio(key="decision_value").set_value("NO-GO")
    at.text_area(key="decision_rationale").set_value("Vault review still open; dev env not configured.")
    at.button(key="FormSubmitter:decision-Record decision").click().run()
    assert not at.exception
    assert f"Decision NO-GO recorded on checkpoint #{cp.id} by Rohan Patel." in [s.value for s in at.success]
    with store_of(env) as store:
        cp = store.checkpoints()[0]
    assert (cp.decision, cp.decided_by, cp.rationale) == (
        "NO-GO",
        "Rohan Patel",
        "Vault review still open; dev env not configured.",
    )
    assert cp.decided_at == datetime.fromisoformat(NOW)
    downloads = at.get("download_button")
    assert [d.proto.label for d in downloads] == ["Download Markdown", "Download HTML"]


def test_checkpoint_diff_for_an_older_checkpoint(env):
    at = render("checkpoint.py")
    at.selectbox(key="report_on").select(2).run()
    page = text(at)
    assert 'Compared with checkpoint #1 "Week 0"' in page
    assert "**Regressed** (1)" in page and "`env.GHL_PROXY_API_KEY`" in page
    assert "**Newly waived** (1)" in page


def test_decision_needs_a_rationale(env):
    as_role(env, "admin")
    at = render("checkpoint.py")
    at.button(key="FormSubmitter:decision-Record decision").click().run()
    assert "Not recorded: give the rationale" in "\n".join(e.value for e in at.error)


# -------------------------------------------------------------------------------------------- errors


def test_missing_manifest_file(env, tmp_path):
    missing = tmp_path / "nope.toml"
    env.mp.setenv("READINESS_MANIFEST", str(missing))
    for name in PAGES:
        at = render(name)
        (error,) = at.error
        assert str(missing) in error.value and "file not found" in error.value
        assert "READINESS_MANIFEST" in error.value


def test_invalid_manifest_names_the_field(env):
    text_ = env.manifest.read_text().replace(
        "https://staging.maxai-platform.com/api/auth/oauth/google/callback", "http://staging.example/cb"
    )
    env.manifest.write_text(text_)
    at = render("overview.py")
    (error,) = at.error
    assert "oauth_apps.google.redirect_uris[1].uri: must be an https URL" in error.value
    assert str(env.manifest) in error.value
    assert not at.button  # stopped before anything else


def test_unknown_check_kind_names_the_field(env):
    env.manifest.write_text(
        env.manifest.read_text() + '\n[[checks]]\nid = "x.y"\nitem = "oauth.google"\nkind = "nope"\n'
    )
    (error,) = render("checks_page.py").error
    assert "unknown check kind 'nope'" in error.value and ".kind" in error.value


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/x", "postgresql+psycopg://postgres@127.0.0.1:1/x"),
        ("postgresql+psycopg://app:s3cr3t-pw@127.0.0.1:1/x", "postgresql+psycopg://app:***@127.0.0.1:1/x"),
        ("not a url at all", "(not a database URL)"),
    ],
    ids=["refused", "password-masked", "garbage"],
)
def test_unreachable_database(env, url, shown):
    env.mp.setenv("READINESS_DB_URL", url)
    for name in PAGES:
        at = render(name)
        (error,) = at.error
        assert f"Cannot open the database `{shown}`" in error.value
        assert "READINESS_DB_URL" in error.value
        assert "s3cr3t-pw" not in error.value


def test_bad_role(env):
    env.mp.setenv("READINESS_DASHBOARD_ROLE", "root")
    (error,) = render("overview.py").error
    assert "READINESS_DASHBOARD_ROLE is 'root'" in error.value and "release_manager" in error.value


# --------------------------------------------------------------------------------------------- vault

KEY = bytes(range(1, 33))
TOKEN = "ya29.a0AfB_byC-vault-access-token-not-real-0123456789"
REFRESH = "1//0g-refresh-token-not-real-abcdefghijklmnop"


@pytest.fixture
def vault_env(env, tmp_path):
    url = f"sqlite:///{tmp_path / 'vault.db'}"
    now = datetime.fromisoformat(NOW)
    from checks import FixedClock

    v = Vault.init(url, StaticKeySource(KEY), FixedClock(now))
    admin = Actor("setup", Role.ADMIN)
    v.put(
        admin,
        "acme",
        "google",
        "test@sandbox.example",
        TOKEN,
        REFRESH,
        expires_at=now + timedelta(hours=2),
        scopes=["https://www.googleapis.com/auth/calendar.readonly"],
    )
    v.put(
        admin,
        "acme",
        "microsoft",
        "test@m365.example",
        "eyJ0eXAi-ms-token-not-real",
        None,
        expires_at=now + timedelta(days=30),
    )
    v.put(admin, "globex", "google", "qa@globex.example", "ya29.second-token-not-real-xyz", None)
    v.close()
    env.mp.setenv("TOKEN_VAULT_DB_URL", url)
    env.mp.setenv("TOKEN_VAULT_KEY_SOURCE", "env")
    env.mp.setenv("TOKEN_VAULT_ENCRYPTION_KEY", base64.b64encode(KEY).decode())
    env.vault_url = url
    return env


def test_vault_page_not_configured(env):
    at = render("vault_page.py")
    (info,) = at.info
    assert "No token vault is configured" in info.value and "TOKEN_VAULT_KEY_SOURCE" in info.value
    assert not at.error


def test_vault_page_as_auditor_shows_selftest_and_audit_chain(vault_env):
    as_role(vault_env, "auditor", user="sec-review")
    at = render("vault_page.py")
    page = text(at)
    assert "Self-test passed: 11 of 11 checks" in page
    assert "Audit chain: audit chain intact" in page
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Tenants"], metrics["Credentials"], metrics["Expiring within 24 h"]) == ("2", "3", "1")
    tables = [d.value for d in at.dataframe]
    keys = tables[0]
    assert list(keys["source"]) == ["env:TOKEN_VAULT_ENCRYPTION_KEY"] and bool(keys["primary"][0])
    audit = tables[-1]
    assert {"put", "stats", "list"} <= set(audit["op"])
    assert "Rotate KEK" not in [b.label for b in at.button]  # admin only
    assert len(at.get("plotly_chart")) == 1


def test_vault_page_as_viewer_hides_the_audit_log(vault_env):
    at = render("vault_page.py")
    assert any("need the auditor or admin role" in i.value for i in at.info)
    assert "Self-test passed" in text(at)


def test_vault_admin_rotates_with_progress(vault_env):
    as_role(vault_env, "admin")
    new_key = bytes(range(101, 133))
    vault_env.mp.setenv("TOKEN_VAULT_ENCRYPTION_KEY", base64.b64encode(new_key).decode())
    vault_env.mp.setenv("TOKEN_VAULT_PREVIOUS_KEYS", base64.b64encode(KEY).decode())
    at = render("vault_page.py")
    at.button(key="rotate_kek").click().run()
    assert not at.exception
    assert any(s.value.startswith("KEK rotation to ") and "3 of 3 rewrapped" in s.value for s in at.success)
    at.selectbox(key="rewrap_tenant").select("acme").run()
    at.button(key="rotate_dek").click().run()
    assert not at.exception
    assert "acme@v2: 2 of 2 credentials re-sealed" in [s.value for s in at.success]


def test_vault_with_the_wrong_key(vault_env):
    vault_env.mp.setenv("TOKEN_VAULT_ENCRYPTION_KEY", base64.b64encode(bytes(32)).decode())
    (error,) = render("vault_page.py").error
    assert error.value.startswith("The vault's key is not available:")


def test_vault_not_initialised(env, tmp_path):
    env.mp.setenv("TOKEN_VAULT_DB_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    env.mp.setenv("TOKEN_VAULT_ENCRYPTION_KEY", base64.b64encode(KEY).decode())
    (error,) = render("vault_page.py").error
    assert "holds no vault yet" in error.value and "readiness vault init" in error.value


# ----------------------------------------------------------------------------------------- secrets


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def everything(at):
    """Each element's value and its whole protobuf (markdown, tables as Arrow, chart specs, widget labels)."""
    out = []
    for node in _walk(at._tree):
        out.append(str(getattr(node, "proto", "")))
        try:
            value = node.value
        except Exception:
            value = None
        if value is not None:
            out.append(value.to_csv() if hasattr(value, "to_csv") else repr(value))
    return "\n".join(out)


@pytest.mark.parametrize("role", ["viewer", "release_manager", "auditor", "admin"])
def test_no_secret_reaches_any_element(vault_env, history2_url, role):
    as_role(vault_env, role)
    vault_env.mp.setenv("READINESS_DB_URL", history2_url)
    for name, value in VALID_ENV.items():
        if name != "TOKEN_VAULT_ENCRYPTION_KEY":
            vault_env.mp.setenv(name, value)
    secrets = [v for k, v in VALID_ENV.items() if k != "TOKEN_VAULT_ENCRYPTION_KEY"]
    secrets += [
        TOKEN,
        REFRESH,
        base64.b64encode(KEY).decode(),
        "ya29.second-token-not-real-xyz",
        "eyJ0eXAi-ms-token-not-real",
    ]
    at = AppTest.from_file(str(DASH / "app.py"), default_timeout=TIMEOUT).run()
    if role in ("release_manager", "admin"):
        at.button[0].click().run()  # "Run checks now" with the real environment
    else:
        assert at.button[0].disabled  # a sweep is a write; the pages show the recorded runs
    assert not at.exception
    seen = [everything(at)]
    for name in PAGES[1:]:
        at.switch_page(name).run()
        assert not at.exception, name
        seen.append(everything(at))
    blob = "\n".join(seen)
    # the pages did render, tables and chart specs included
    assert "Self-test" in blob and "blocking checks passing" in blob and "test@sandbox.example" in blob
    leaked = [s for s in secrets if s in blob]
    assert not leaked


# ------------------------------------------------------------------------------------ real manifest


def test_every_page_renders_with_the_repositorys_manifest(env, tmp_path):
    """The frozen story manifest keeps the figures above still; this runs the live one, probes and all."""
    live = tmp_path / "live"
    live.mkdir()
    env.mp.setenv("READINESS_MANIFEST", str(copy_manifest(live, ROOT / "readiness.toml")))
    env.mp.setenv("READINESS_DB_URL", f"sqlite:///{tmp_path / 'live.db'}")
    as_role(env, "admin")
    at = AppTest.from_file(str(DASH / "app.py"), default_timeout=TIMEOUT).run()
    at.button[0].click().run()
    assert not at.exception and [e.value for e in at.error if not e.value.startswith("Run finished")] == []
    assert any(e.value.startswith("Run finished: NO-GO") for e in at.error)
    for name in PAGES[1:]:
        at.switch_page(name).run()
        assert not at.exception, name
        assert not at.error, (name, [e.value for e in at.error])


def test_app_path_and_entry_point():
    import dashboard

    assert dashboard.app_path() == DASH / "app.py"
    source = Path(dashboard.app_path()).read_text()
    assert "st.navigation(" in source and all(p in source for p in PAGES)


def test_the_dashboard_installs_the_redacting_log_filter(env):
    import logging

    from vault.redact import RedactingFilter, remember

    render("app.py")
    streamlit_logger = logging.getLogger("streamlit")
    assert any(isinstance(f, RedactingFilter) for f in streamlit_logger.filters)
    handlers = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactingFilter) for f in h.filters)]
    assert handlers, "no root handler scrubs records"
    remember("opaque-dashboard-secret-42")
    record = logging.LogRecord("httpx", logging.WARNING, __file__, 1, "sent %s", ("opaque-dashboard-secret-42",), None)
    for f in handlers[0].filters:
        f.filter(record)
    assert "opaque-dashboard-secret-42" not in record.getMessage()
