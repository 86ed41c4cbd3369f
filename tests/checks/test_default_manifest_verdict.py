"""The default manifest against the stand-ins: the seed's week 0 is NO-GO with the seed's reasons;
with every stand-in valid and every manual fact attested, GO. Real checks, real HTTP on loopback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks import Attestation, FixedClock, load_manifest, sweep
from checks.standins import demo_config, demo_environment, demo_server
from checks.storage.history import Store

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = load_manifest(ROOT / "readiness.toml")
NOW = datetime(2025, 10, 17, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    config = demo_config(directory)
    with demo_server(config=config) as server:
        yield server, demo_environment(server.url, config=config)


def passing_status(item: str) -> str:
    """A status every manual check on ``item`` passes on (the end of its lifecycle)."""
    manual = [c for c in MANIFEST.checks if c.kind == "manual" and (c.params.get("attest") or c.item) == item]
    common = set.intersection(*(set(c.params["pass_on"]) for c in manual))
    assert common, f"no single attested status passes every manual check on {item}"
    return sorted(common)[0]


def test_week0_without_configuration_is_no_go_with_the_seeds_reasons(world, tmp_path):
    server, env = world
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    environ = {"READINESS_STANDINS_URL": server.url}  # nothing configured yet: the seed's state
    run = sweep(MANIFEST, store=store, clock=FixedClock(NOW), environ=environ, env_file="/dev/null")
    reasons = "\n".join(run.verdict.reasons)
    assert run.verdict.decision.value == "NO-GO"
    for name in ("GOOGLE_OAUTH_CLIENT_ID", "MICROSOFT_OAUTH_CLIENT_SECRET", "GHL_PROXY_API_KEY"):
        assert f"{name} is not set" in reasons
    assert "No attestation for oauth.google yet" in reasons  # "Google OAuth Application: Not Created"
    assert "vault.security_review" in reasons  # the vault design is not approved
    store.close()


def test_nothing_configured_is_not_checked_rather_than_passed(world, tmp_path):
    """Issue 10: with nothing configured, ``oauth.google.apis`` could not look; the report said "Google OAuth
    application: 1 of 7 checks pass"."""
    from checks.presentation.report_build import build_report
    from checks.presentation.report_markdown import render_markdown

    server, _ = world
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    environ = {"READINESS_STANDINS_URL": server.url}
    run = sweep(MANIFEST, store=store, clock=FixedClock(NOW), environ=environ, env_file="/dev/null")
    apis = next(r for r in run.results if r.id == "oauth.google.apis")
    assert apis.status.value == "skipped" and apis.result.summary.startswith("not configured")
    # The one warn left is a real finding (the manifest's scope spelling), not a check that could not look.
    assert [r.id for r in run.results if r.status.value == "warn"] == ["oauth.microsoft.scopes"]
    google = [r for r in run.results if r.item == "oauth.google"]
    assert not any(r.status.ok for r in google)
    md = render_markdown(build_report(MANIFEST, store, now=NOW))
    line = next(x for x in md.splitlines() if x.startswith("- **Status**") and "of 7" in x)
    assert "0 passed" in line and "not checked" in line and "1 of 7 checks pass" not in md
    oauth = next(a for a in run.to_json()["areas"] if a["id"] == "oauth")
    # the one passing is the scope review above; 11 could not look (nothing configured), 3 found a gap
    assert (oauth["passed"], oauth["not_checked"], oauth["pending"], oauth["total"]) == (1, 11, 0, 15)
    store.close()


def test_all_valid_and_attested_is_go(world, tmp_path):
    server, env = world
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    items = {c.params.get("attest") or c.item for c in MANIFEST.checks if c.kind == "manual"}
    for item in sorted(items):
        store.add_attestation(Attestation(item=item, status=passing_status(item), by="rohan", at=NOW))
    run = sweep(MANIFEST, store=store, clock=FixedClock(NOW), environ=env, env_file="/dev/null")
    blocking = {r.id: (r.status.value, r.result.summary) for r in run.results if r.severity.value == "blocking"}
    assert run.verdict.decision.value == "GO", [b for b in blocking.items() if b[1][0] not in ("pass", "warn")]
    probes = {r.id: r.status.value for r in run.results if r.kind not in ("env", "manual")}
    for check_id in (
        "oauth.google.client",
        "oauth.google.redirect.dev",
        "oauth.microsoft.client",
        "oauth.ghl.proxy",
        "sandbox.twilio.account",
        "sandbox.retell.agents",
    ):
        assert probes[check_id] == "pass", check_id
    for secret in (
        env["GOOGLE_OAUTH_CLIENT_SECRET"],
        env["MICROSOFT_OAUTH_CLIENT_SECRET"],
        env["TWILIO_AUTH_TOKEN"],
        env["GHL_PROXY_API_KEY"],
        env["TOKEN_VAULT_ENCRYPTION_KEY"],
    ):
        assert secret not in str(run.to_json())
    store.close()
