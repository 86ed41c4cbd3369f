"""The refresher (vault.refresh) against the token-endpoint stand-ins (checks.standins.oauth) on loopback.

Real httpx, real SQLite and PostgreSQL, an injected clock. The headline test runs four refresher processes
on one PostgreSQL vault against one rotating stand-in and checks every credential was refreshed exactly once.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa

from checks.core.clock import FixedClock
from checks.standins.oauth import (
    GHL_HOST,
    GOOGLE_HOST,
    MICROSOFT_HOST,
    GhlOAuthStandin,
    GoogleOAuthStandin,
    MicrosoftOAuthStandin,
)
from checks.standins.server import StandinServer
from vault import AccessDenied, Actor, Role, Secret, StaticKeySource, Vault
from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter
from vault.refresh_endpoints import GHL_TOKEN_URL, GOOGLE_TOKEN_URL, endpoints_from_env
from vault.refresh_report import RefreshOutcome, RefreshReport
from vault.refresh_settle import due_at
from vault.store_values import refresh_due

KEY = bytes(range(7, 39))
ADMIN = Actor("ada", Role.ADMIN)
BOT = Actor("refresher", Role.ADMIN)
TENANT_ID = "7f3c1a52-8d4e-4b8a-9c1e-2f6b7d9e0a13"
CLIENTS = {
    "google": ("123456789012-abc.apps.googleusercontent.com", "GOCSPX-" + secrets.token_urlsafe(20)),
    "microsoft": ("0d2f4b6a-1c3e-4a5b-8d7f-9e0a1b2c3d4e", "Qx8Q~" + secrets.token_urlsafe(28)),
    "ghl": ("66f1e2d3c4b5a69788-m1abcdef", secrets.token_hex(16)),
}
WORKER = Path(__file__).with_name("refresh_worker.py")


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def standins():
    google, microsoft, ghl = GoogleOAuthStandin(), MicrosoftOAuthStandin(retire_used=True), GhlOAuthStandin()
    google.register_client(*CLIENTS["google"])
    microsoft.register_client(*CLIENTS["microsoft"], tenant=TENANT_ID)
    ghl.register_client(*CLIENTS["ghl"])
    with StandinServer([google, microsoft, ghl]) as server:
        yield SimpleNamespace(
            server=server,
            google=google,
            microsoft=microsoft,
            ghl=ghl,
            by_name={"google": google, "microsoft": microsoft, "ghl": ghl},
        )


@pytest.fixture
def vault_(db_url, clock):
    v = Vault.init(db_url, StaticKeySource(KEY), clock)
    yield v
    v.close()


def endpoints(secret_overrides=None):
    secret_overrides = secret_overrides or {}
    return {
        "google": ProviderEndpoint.google(CLIENTS["google"][0], secret_overrides.get("google", CLIENTS["google"][1])),
        "microsoft": ProviderEndpoint.microsoft(
            TENANT_ID, CLIENTS["microsoft"][0], secret_overrides.get("microsoft", CLIENTS["microsoft"][1])
        ),
        "ghl": ProviderEndpoint.ghl(CLIENTS["ghl"][0], secret_overrides.get("ghl", CLIENTS["ghl"][1])),
    }


@pytest.fixture
def make(vault_, standins, clock):
    made = []

    def factory(**kw):
        kw.setdefault("endpoints", endpoints())
        kw.setdefault("url_rewriter", standins_rewriter(standins.server.url))
        kw.setdefault("clock", clock)
        refresher = Refresher(kw.pop("vault", vault_), kw.pop("actor", BOT), **kw)
        made.append(refresher)
        return refresher

    yield factory
    for refresher in made:
        refresher.close()


class MaxRandom(random.Random):
    """Jitter at its ceiling, so backoff delays are predictable."""

    def random(self):
        return 1.0


def put(vault_, standins, clock, provider, account, expires_in, *, tenant="acme", lifetime=timedelta(hours=1)):
    """Store a credential with a live refresh token from the stand-in, expiring ``expires_in`` from now.

    The put happens (on the injected clock) when the token was issued, ``lifetime`` before its expiry, so
    the vault schedules it as it would have: an hour-long token with 5 minutes left is due now.
    Returns (credential id, refresh token, access token)."""
    refresh = (
        standins.by_name[provider].grant(account, CLIENTS[provider][0], tenant=TENANT_ID)
        if provider == "microsoft"
        else standins.by_name[provider].grant(account, CLIENTS[provider][0])
    )
    access = {
        "google": "ya29.a0old" + secrets.token_urlsafe(40),
        "microsoft": "eyJ0eXAiOiJKV1Qi.eyJvbGQi." + secrets.token_urlsafe(40),
        "ghl": "eyJhbGciOiJIUzI1NiJ9.eyJvbGQi." + secrets.token_urlsafe(30),
    }[provider]
    now = clock.now()
    expires_at = now + expires_in
    clock.set(min(now, expires_at - lifetime))
    try:
        cid = vault_.put(
            ADMIN,
            tenant,
            provider,
            account,
            access,
            refresh,
            expires_at=expires_at,
            scopes=["openid", "offline_access"],
        )
    finally:
        clock.set(now)
    return cid, refresh, access


def row(vault_, cid):
    with vault_.engine.connect() as conn:
        return conn.execute(sa.text("select * from credentials where id = :id"), {"id": cid}).mappings().one()


def info(vault_, cid):
    return next(i for i in vault_.list(ADMIN) if i.id == cid)


def refresh_events(vault_, cid=None):
    events = [e for e in vault_.audit_events(ADMIN, limit=1000) if e.op == "refresh"]
    return [e for e in events if cid is None or e.target == cid]


def everything_stored(vault_) -> str:
    """Every value of every row of every table, as text (for scans that must not find a token)."""
    chunks = []
    with vault_.engine.connect() as conn:
        for table in ("credentials", "audit_events", "vault_meta", "tenants", "data_keys"):
            for values in conn.execute(sa.text(f"select * from {table}")):
                for value in values:
                    if isinstance(value, bytes | bytearray | memoryview):
                        value = bytes(value)
                        chunks += [value.decode("latin-1"), base64.b64encode(value).decode()]
                    else:
                        chunks.append(json.dumps(value, default=str) if isinstance(value, dict | list) else str(value))
    return "\n".join(chunks)


# --------------------------------------------------------------------------------------------- due rules


DUE_AFTER = [  # (token lifetime, when it is due counted from issue): the earlier of 10 min before expiry or 80 %
    (timedelta(minutes=2), timedelta(minutes=1, seconds=36)),
    (timedelta(minutes=20), timedelta(minutes=16)),
    (timedelta(minutes=50), timedelta(minutes=40)),
    (timedelta(minutes=51), timedelta(minutes=41)),
    (timedelta(hours=1), timedelta(minutes=50)),
    (timedelta(days=1), timedelta(hours=23, minutes=50)),
    (timedelta(0), timedelta(0)),  # already expired: due at once, at its expiry
    (-timedelta(minutes=1), -timedelta(minutes=1)),
]


@pytest.mark.parametrize("life, due_after", DUE_AFTER, ids=[str(d[0]) for d in DUE_AFTER])
def test_due_at_and_the_store_rule_give_the_literal_due_time(clock, life, due_after):
    now = clock.now()
    assert due_at(now, now + life) == now + due_after
    assert refresh_due(now, now + life) == now + due_after


def test_due_at_matches_the_store_rule_and_the_80_percent_rule(clock):
    now = clock.now()
    assert due_at(now, now + timedelta(hours=1)) == now + timedelta(minutes=50)  # 10 minutes first
    assert due_at(now, now + timedelta(minutes=20)) == now + timedelta(minutes=16)  # 80 % first
    assert due_at(now, now + timedelta(hours=1), timedelta(minutes=30)) == now + timedelta(minutes=48)
    assert due_at(now, None) is None


def test_due_selection_lead_time_and_80_percent(vault_, standins, make, clock):
    t0 = clock.now()
    hour, twenty, nine = (
        put(vault_, standins, clock, "google", f"{name}@acme.test", life, lifetime=life)[0]
        for name, life in (
            ("hour", timedelta(hours=1)),
            ("twenty", timedelta(minutes=20)),
            ("nine", timedelta(minutes=9)),
        )
    )
    refresher = make()
    assert refresher.count_due() == 0 and refresher.run_once().claimed == 0

    clock.set(t0 + timedelta(minutes=7, seconds=11))  # 80 % of 9 minutes is 7:12
    assert refresher.run_once().claimed == 0
    clock.set(t0 + timedelta(minutes=7, seconds=12))
    assert refresher.count_due() == 1
    report = refresher.run_once()
    assert [o.credential_id for o in report.outcomes] == [nine] and report.refreshed == 1

    clock.set(t0 + timedelta(minutes=15, seconds=59))  # 80 % of 20 minutes is 16 minutes (not 10 before expiry)
    assert refresher.run_once().claimed == 0
    clock.set(t0 + timedelta(minutes=16))
    assert [o.credential_id for o in refresher.run_once().outcomes] == [twenty]

    clock.set(t0 + timedelta(minutes=49, seconds=59))  # an hour: 10 minutes before expiry
    assert refresher.run_once().claimed == 0
    clock.set(t0 + timedelta(minutes=50))
    assert [o.credential_id for o in refresher.run_once().outcomes] == [hour]
    assert standins.google.counters()["total"] == 3


def test_the_lead_schedules_the_next_refresh(vault_, standins, make, clock):
    def at(h, m, s, us=0):
        return datetime(2025, 10, 6, h, m, s, us, tzinfo=UTC)

    assert clock.now() == at(9, 0, 0)
    cid = put(vault_, standins, clock, "google", "a@acme.test", timedelta(minutes=5))[0]
    refresher = make(lead=timedelta(minutes=5))
    assert refresher.run_once().refreshed == 1
    # Google's tokens last 3599 s: expiry 09:59:59; a fifth of the lifetime (11:59.8) exceeds the 5-minute lead
    assert info(vault_, cid).expires_at == at(9, 59, 59)
    assert info(vault_, cid).refresh_due_at == at(9, 54, 59)
    clock.set(at(9, 54, 58))
    assert refresher.run_once().claimed == 0
    clock.set(at(9, 54, 59))
    assert refresher.run_once().refreshed == 1
    assert info(vault_, cid).refresh_due_at == at(10, 49, 58)  # expiry 10:54:58, 5 minutes before
    # a lead longer than a fifth of the lifetime gives way to the 80 % rule: expiry 11:49:57 less 719.8 s
    clock.set(at(10, 49, 58))
    longer = make(lead=timedelta(minutes=30))
    assert longer.run_once().refreshed == 1
    assert info(vault_, cid).expires_at == at(11, 49, 57)
    assert info(vault_, cid).refresh_due_at == at(11, 37, 57, 200000)
    clock.set(at(11, 37, 57, 199999))
    assert longer.run_once().claimed == 0
    clock.set(at(11, 37, 57, 200000))
    assert longer.run_once().refreshed == 1
    assert standins.google.counters()["total"] == 4


def test_not_due_credentials_are_untouched(vault_, standins, make, clock):
    cid, refresh, access = put(vault_, standins, clock, "google", "idle@acme.test", timedelta(hours=2))
    before = dict(row(vault_, cid))
    report = make().run_once()
    assert report == RefreshReport(report.owner, report.started_at, report.finished_at)
    assert dict(row(vault_, cid)) == before
    assert standins.google.calls_for(refresh) == 0 and standins.google.counters()["total"] == 0
    assert refresh_events(vault_) == []


def test_credentials_without_refresh_token_or_endpoint_or_active_state_are_not_claimed(vault_, standins, make, clock):
    vault_.put(
        ADMIN,
        "acme",
        "google",
        "no-refresh@acme.test",
        "ya29.x" + secrets.token_urlsafe(20),
        expires_at=clock.now() + timedelta(minutes=1),
    )
    vault_.put(
        ADMIN,
        "acme",
        "twilio",
        "acct",
        "tok" + secrets.token_urlsafe(20),
        "r" + secrets.token_urlsafe(20),
        expires_at=clock.now() + timedelta(minutes=1),
    )
    revoked = put(vault_, standins, clock, "google", "gone@acme.test", timedelta(minutes=1))[0]
    vault_.revoke(ADMIN, "acme", revoked)
    assert make().run_once().claimed == 0
    assert standins.google.counters()["total"] == 0


# ------------------------------------------------------------------------------------------------ success


def test_refreshed_token_is_readable_and_the_old_one_gone(vault_, standins, make, clock):
    cid, refresh, old_access = put(vault_, standins, clock, "google", "ops@acme.test", timedelta(minutes=5))
    old_fp = info(vault_, cid).token_fingerprint
    clock.advance(timedelta(seconds=30))
    report = make().run_once()
    assert (report.refreshed, report.claimed) == (1, 1)
    outcome = report.outcomes[0]
    assert outcome.result == "refreshed" and outcome.status == 200 and not outcome.rotated
    with vault_.get(ADMIN, "acme", cid) as tokens:
        new_access = tokens.access_token.reveal()
        assert new_access == standins.google.last_access_token("ops@acme.test")
        assert new_access.startswith("ya29.") and new_access != old_access
        assert tokens.refresh_token.reveal() == refresh  # Google sends none: the old one is kept, never wiped
        assert tokens.expires_at == clock.now() + timedelta(seconds=3599)
    meta = info(vault_, cid)
    assert meta.token_fingerprint == outcome.fingerprint != old_fp
    assert meta.last_refresh_at == clock.now() and meta.failures == 0 and meta.last_refresh_error is None
    assert meta.refresh_due_at == clock.now() + timedelta(seconds=3599 - 600)
    stored = row(vault_, cid)
    assert stored["lease_owner"] is None and stored["lease_until"] is None and stored["version"] == 2
    assert old_access not in everything_stored(vault_) and new_access not in everything_stored(vault_)
    # the same refresher, later: the kept refresh token still works
    clock.advance(timedelta(minutes=55))
    assert make().run_once().refreshed == 1
    assert standins.google.calls_for(refresh) == 2


@pytest.mark.parametrize("provider", ["microsoft", "ghl"])
def test_rotated_refresh_token_is_stored(vault_, standins, make, clock, provider):
    stand = standins.by_name[provider]
    account = f"rotating@{provider}.test"
    cid, first, _ = put(vault_, standins, clock, provider, account, timedelta(minutes=3))
    report = make().run_once()
    assert report.refreshed == 1 and report.outcomes[0].rotated
    second = stand.latest(account)
    assert second != first and not stand.is_live(first)  # the stand-ins retire a used token
    with vault_.get(ADMIN, "acme", cid) as tokens:
        assert tokens.refresh_token.reveal() == second
        assert tokens.access_token.reveal() == stand.last_access_token(account)
    event = refresh_events(vault_, cid)[0]
    assert event.outcome == "ok" and event.detail["rotated"]
    with vault_.engine.connect() as conn:  # the audit names the token now stored, not the one exchanged
        named = {t: vault_._fingerprint(conn, vault_._ring(), t.encode()) for t in (first, second)}
    assert event.detail["refresh_fingerprint"] == named[second] != named[first]
    assert event.detail["fingerprint"] == info(vault_, cid).token_fingerprint
    # the next cycle uses the rotated token, which the provider accepts
    clock.advance(timedelta(seconds=stand.expires_in))
    assert make().run_once().refreshed == 1
    assert stand.calls_for(second) == 1 and stand.latest(account) != second


def test_ghl_answer_shape_is_understood(vault_, standins, make, clock):
    cid = put(vault_, standins, clock, "ghl", "loc_8Xk2", timedelta(minutes=1))[0]
    make().run_once()
    meta = info(vault_, cid)
    assert meta.expires_at == clock.now() + timedelta(seconds=86399)
    assert "calendars.readonly" in meta.scopes  # the answer's scope replaces the stored one


def test_rotating_provider_that_omits_the_refresh_token_keeps_the_old_one(vault_, standins, make, clock):
    cid, first, _ = put(vault_, standins, clock, "microsoft", "omit@contoso.test", timedelta(minutes=3))
    standins.microsoft.set_scenario("omit_refresh_token", times=1)
    report = make().run_once()
    assert report.refreshed == 1 and not report.outcomes[0].rotated
    with vault_.get(ADMIN, "acme", cid) as tokens:
        assert tokens.refresh_token is not None and tokens.refresh_token.reveal() == first
    assert info(vault_, cid).has_refresh_token


def test_microsoft_receives_the_scopes(vault_, standins, make, clock):
    seen = []

    def hook(request):
        seen.append(dict(httpx.QueryParams(request.content.decode())))

    with httpx.Client(event_hooks={"request": [hook]}) as client:
        put(vault_, standins, clock, "microsoft", "s@contoso.test", timedelta(minutes=1))
        make(http=client).run_once()
    assert seen[0]["scope"] == "openid offline_access"
    assert seen[0]["client_id"] == CLIENTS["microsoft"][0] and seen[0]["grant_type"] == "refresh_token"


def test_user_agent_and_timeout(vault_, standins, make, clock):
    seen = []
    with httpx.Client(event_hooks={"request": [lambda r: seen.append(r)]}) as client:
        put(vault_, standins, clock, "google", "ua@acme.test", timedelta(minutes=1))
        make(http=client, timeout=3.0).run_once()
    assert seen[0].headers["user-agent"].startswith("readiness-vault-refresher/")
    assert seen[0].extensions["timeout"]["read"] == 3.0
    assert str(seen[0].url).startswith(f"{standins.server.url}/{GOOGLE_HOST}/token")


# ------------------------------------------------------------------------------------------------ failures


def test_429_honours_retry_after(vault_, standins, make, clock):
    cid, refresh, _ = put(vault_, standins, clock, "google", "busy@acme.test", timedelta(minutes=5))
    standins.google.set_scenario("429", retry_after=120)
    refresher = make()
    report = refresher.run_once()
    assert (report.backed_off, report.refreshed, report.errors) == (1, 0, 0)
    outcome = report.outcomes[0]
    assert outcome.status == 429 and outcome.next_attempt_at == clock.now() + timedelta(seconds=120)
    meta = info(vault_, cid)
    assert meta.next_attempt_at == clock.now() + timedelta(seconds=120) and meta.failures == 1
    assert "429" in meta.last_refresh_error and "120" in meta.last_refresh_error
    assert refresh not in meta.last_refresh_error
    assert row(vault_, cid)["lease_owner"] is None

    standins.google.set_scenario("ok")
    clock.advance(timedelta(seconds=119))
    assert refresher.run_once().claimed == 0  # too early: not even claimed
    assert standins.google.calls_for(refresh) == 1
    clock.advance(timedelta(seconds=1))
    assert refresher.run_once().refreshed == 1
    meta = info(vault_, cid)
    assert meta.failures == 0 and meta.next_attempt_at is None and meta.last_refresh_error is None


def test_429_with_an_http_date_retry_after(vault_, standins, make, clock):
    cid = put(vault_, standins, clock, "google", "date@acme.test", timedelta(minutes=5))[0]
    when = format_datetime(clock.now() + timedelta(seconds=300), usegmt=True)
    standins.google.set_scenario("429", retry_after=when)
    assert make().run_once().backed_off == 1
    assert info(vault_, cid).next_attempt_at == clock.now() + timedelta(seconds=300)


DAY = timedelta(days=1)  # the refresher's cap on a provider's Retry-After


def _retry_after_date(clock, ahead: timedelta) -> str:
    return format_datetime(clock.now() + ahead, usegmt=True)


RETRY_AFTER_CAP = [
    ("just-under", lambda clock: "86399", timedelta(seconds=86399)),
    ("at-the-cap", lambda clock: "86400", DAY),
    ("just-over", lambda clock: "86401", DAY),
    ("nine-nines", lambda clock: "999999999", DAY),
    ("past-timedelta", lambda clock: "9" * 20, DAY),  # more seconds than a timedelta can hold
    ("date-just-under", lambda clock: _retry_after_date(clock, DAY - timedelta(seconds=1)), DAY - timedelta(seconds=1)),
    ("date-just-over", lambda clock: _retry_after_date(clock, DAY + timedelta(seconds=1)), DAY),
    ("date-years-ahead", lambda clock: _retry_after_date(clock, timedelta(days=3650)), DAY),
    ("date-year-9999", lambda clock: "Fri, 31 Dec 9999 23:59:59 GMT", DAY),
    ("unicode-digits", lambda clock: "\u00b9\u00b2", timedelta(seconds=30)),  # not a number: the usual backoff
]


@pytest.mark.parametrize("header, expected", [c[1:] for c in RETRY_AFTER_CAP], ids=[c[0] for c in RETRY_AFTER_CAP])
def test_429_retry_after_is_capped_at_a_day(vault_, standins, make, clock, header, expected):
    cid = put(vault_, standins, clock, "google", "capped@acme.test", timedelta(minutes=5))[0]
    standins.google.set_scenario("429", retry_after=header(clock))
    report = make(rng=MaxRandom()).run_once()
    assert (report.backed_off, report.errors) == (1, 0)
    assert report.outcomes[0].next_attempt_at == clock.now() + expected
    meta = info(vault_, cid)
    assert meta.next_attempt_at == clock.now() + expected
    assert meta.last_refresh_error.startswith("HTTP 429") and len(meta.last_refresh_error) <= 120
    assert ("waiting the cap, 86400 s" in meta.last_refresh_error) == (expected == DAY and header(clock) != "86400")


def test_a_credential_parked_by_a_huge_retry_after_comes_back_after_exactly_a_day(vault_, standins, make, clock):
    cid, refresh, _ = put(vault_, standins, clock, "google", "parked@acme.test", timedelta(minutes=5))
    standins.google.set_scenario("429", retry_after=999999999, times=1)
    refresher = make()
    assert refresher.run_once().backed_off == 1
    clock.advance(DAY - timedelta(seconds=1))
    assert refresher.run_once().claimed == 0
    clock.advance(timedelta(seconds=1))
    assert refresher.run_once().refreshed == 1
    assert standins.google.calls_for(refresh) == 2 and info(vault_, cid).next_attempt_at is None


def test_429_without_retry_after_backs_off(vault_, standins, make, clock):
    cid = put(vault_, standins, clock, "google", "noretry@acme.test", timedelta(minutes=5))[0]
    standins.google.set_scenario("429")
    make(rng=MaxRandom()).run_once()
    assert info(vault_, cid).next_attempt_at == clock.now() + timedelta(seconds=30)


@pytest.mark.parametrize("scenario", ["500", "503", "garbage", "timeout"])
def test_transient_failures_back_off_with_growing_delays(vault_, standins, make, clock, scenario):
    cid, refresh, access = put(vault_, standins, clock, "google", "flaky@acme.test", timedelta(minutes=8))
    if scenario == "timeout":
        standins.google.set_scenario("slow", seconds=0.6)
    elif scenario == "garbage":
        standins.google.set_scenario("garbage")
    else:
        standins.google.set_scenario("500", status=int(scenario))
    refresher = make(
        rng=MaxRandom(),
        timeout=0.2,
        lease=timedelta(seconds=30),
        base_backoff=timedelta(seconds=10),
        max_backoff=timedelta(seconds=35),
    )
    delays = []
    for _ in range(4):
        report = refresher.run_once()
        assert report.backed_off == 1 and report.refreshed == 0
        meta = info(vault_, cid)
        delays.append((meta.next_attempt_at - clock.now()).total_seconds())
        clock.set(meta.next_attempt_at)
    assert delays == [10, 20, 35, 35]  # doubling, capped at max_backoff
    meta = info(vault_, cid)
    assert meta.failures == 4 and meta.state == "active"
    error = meta.last_refresh_error
    assert error and len(error) <= 200
    expected = {
        "500": "HTTP 500",
        "503": "HTTP 503",
        "garbage": "without a JSON access token",
        "timeout": "timeout after 0.2 s",
    }[scenario]
    assert expected in error
    for secret in (refresh, access, CLIENTS["google"][1], *standins.google.issued_tokens()):
        assert secret not in error
    # recovery resets the failure count
    standins.google.set_scenario("ok")
    assert refresher.run_once().refreshed == 1
    assert info(vault_, cid).failures == 0


@pytest.mark.parametrize(
    "where, result, error",
    [
        ("invalid-url", "error", "unusable token endpoint URL (InvalidURL)"),
        ("ftp", "backed_off", "UnsupportedProtocol calling the token endpoint"),
        ("refused", "backed_off", "ConnectError calling the token endpoint"),
        ("slow", "backed_off", "timeout after 0.2 s calling the token endpoint"),
    ],
)
def test_a_token_endpoint_that_cannot_be_reached_is_recorded_literally(
    vault_, standins, make, clock, where, result, error
):
    """What the release manager reads in ``last_refresh_error`` when the call never got an answer."""
    cid = put(vault_, standins, clock, "google", "net@acme.test", timedelta(minutes=5))[0]
    rewriter = standins_rewriter(standins.server.url)
    if where == "invalid-url":
        rewriter = lambda url: "http://[::1"  # noqa: E731
    elif where == "ftp":
        rewriter = lambda url: "ftp://127.0.0.1/token"  # noqa: E731
    elif where == "refused":
        dead = StandinServer().start()
        rewriter = standins_rewriter(dead.url)
        dead.stop()
    else:
        standins.google.set_scenario("slow", seconds=0.6)
    (outcome,) = make(url_rewriter=rewriter, timeout=0.2, rng=MaxRandom()).run_once().outcomes
    assert (outcome.result, outcome.detail, outcome.status, outcome.next_attempt_at) == (
        result,
        error,
        None,
        clock.now() + timedelta(seconds=30),
    )
    assert (info(vault_, cid).last_refresh_error, info(vault_, cid).failures) == (error, 1)


@pytest.mark.parametrize("hiccups", [1, 3], ids=["once", "every-try"])
def test_a_database_hiccup_while_storing_new_tokens_is_retried_at_once(vault_, standins, make, clock, caplog, hiccups):
    """The provider's answer is the only copy of the new tokens: a busy or dropped database gets two more tries
    at once (each one logged). If all three fail, the outcome says the vault failed, and the in-flight marker
    stays for the next cycle to read."""
    cid = put(vault_, standins, clock, "google", "busy-db@acme.test", timedelta(minutes=5))[0]
    failed = []

    def hiccup(conn, cursor, statement, params, context, executemany):
        if statement.startswith("UPDATE credentials SET") and "access_ct" in statement and len(failed) < hiccups:
            failed.append(statement)
            raise conn.dialect.dbapi.OperationalError("database is locked")

    pauses: list[float] = []
    sa.event.listen(vault_.engine, "before_cursor_execute", hiccup)
    try:
        with caplog.at_level(logging.WARNING, logger="vault.refresh"):
            (outcome,) = make(sleep=pauses.append).run_once().outcomes
    finally:
        sa.event.remove(vault_.engine, "before_cursor_execute", hiccup)
    warned = [r.getMessage() for r in caplog.records if r.name == "vault.refresh"]
    retry = f"storing refreshed tokens of credential {cid} failed (OperationalError); retrying at once"
    # short pauses between the tries (50 then 100 ms), none after the last: at once, not a backoff
    assert pauses == [0.05, 0.1][:hiccups]
    if hiccups == 1:
        assert (outcome.result, warned) == ("refreshed", [retry])
        assert info(vault_, cid).last_refresh_error is None
    else:
        assert (outcome.result, outcome.detail) == ("error", "vault: OperationalError")
        assert warned == [retry, retry, f"refresh of credential {cid} failed inside the vault (OperationalError)"]
        assert info(vault_, cid).last_refresh_error.startswith("refresh in flight since ")


def test_a_failure_answered_after_the_lease_passed_to_another_worker_is_audited_not_recorded(
    vault_, standins, make, clock
):
    """A's call outlives its lease and B claims the credential meanwhile; A's 503 is then B's business: A audits
    what it saw, marked as not recorded, and leaves the row (failures, schedule, B's lease) alone."""
    cid = put(vault_, standins, clock, "google", "late@acme.test", timedelta(minutes=5))[0]
    standins.google.set_scenario("500", status=503, times=1)
    b = make(owner="worker-b")

    def meanwhile(request):
        clock.advance(timedelta(minutes=3))
        assert len(b._claim()) == 1

    with httpx.Client(event_hooks={"request": [meanwhile]}) as client:
        (outcome,) = make(owner="worker-a", http=client).run_once().outcomes
    assert outcome == RefreshOutcome(
        cid, "acme", "google", "late@acme.test", "backed_off", detail="HTTP 503 from the token endpoint", status=503
    )
    stored = row(vault_, cid)
    assert (stored["failures"], stored["next_attempt_at"], stored["lease_owner"]) == (0, None, "worker-b")
    (event,) = refresh_events(vault_, cid)
    assert (event.outcome, event.detail) == (
        "error",
        {
            "provider": "google",
            "account": "late@acme.test",
            "owner": "worker-a",
            "result": "backed_off",
            "error": "HTTP 503 from the token endpoint",
            "status": 503,
            "recorded": False,
        },
    )


def test_a_failure_the_vault_cannot_record_is_an_error_outcome_and_a_warning(vault_, standins, make, clock, caplog):
    """The database goes away during the call and the provider answers 503: the failure cannot be written, so
    the outcome is an error that still says what the provider answered, the lease is left to expire, and the
    operator is told why."""
    cid = put(vault_, standins, clock, "google", "nodb@acme.test", timedelta(minutes=5))[0]
    standins.google.set_scenario("500", status=503, times=1)
    engine = sa.create_engine(str(vault_.engine.url.render_as_string(hide_password=False)))

    def away(request):
        with engine.begin() as conn:
            conn.execute(sa.text("alter table credentials rename to credentials_away"))

    with httpx.Client(event_hooks={"request": [away]}) as client:
        refresher = make(owner="w1", http=client)
        (claim,) = refresher._claim()
        try:
            with caplog.at_level(logging.WARNING, logger="vault.refresh"):
                outcome = refresher._process(claim)
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text("alter table credentials_away rename to credentials"))
            engine.dispose()
    assert outcome == RefreshOutcome(
        cid, "acme", "google", "nodb@acme.test", "error", detail="HTTP 503 from the token endpoint", status=503
    )
    error = "OperationalError" if vault_.engine.dialect.name == "sqlite" else "ProgrammingError"
    assert [r.getMessage() for r in caplog.records if r.name == "vault.refresh"] == [
        f"could not record a failed refresh of credential {cid} ({error}); its lease expires on its own"
    ]
    stored = row(vault_, cid)
    assert (stored["failures"], stored["lease_owner"]) == (0, "w1")
    assert stored["last_refresh_error"].startswith("refresh in flight since ")


def test_full_jitter_stays_within_the_ceiling(vault_, standins, make, clock):
    refresher = make(rng=random.Random(7), base_backoff=timedelta(seconds=10), max_backoff=timedelta(minutes=5))
    ceilings = [10, 20, 40, 80, 160, 300, 300, 300, 300, 300, 300]  # seconds: doubling from 10, capped at 5 min
    at_ceiling = make(rng=MaxRandom(), base_backoff=timedelta(seconds=10), max_backoff=timedelta(minutes=5))
    assert [at_ceiling._backoff(f).total_seconds() for f in range(1, 12)] == ceilings
    assert at_ceiling._backoff(1000).total_seconds() == 300  # a long outage: no overflow, still the cap

    class MinRandom(random.Random):
        def random(self):
            return 0.0

    assert make(rng=MinRandom())._backoff(3) == timedelta(seconds=1)  # never sooner than a second
    for failures, seconds in enumerate(ceilings, 1):
        ceiling = timedelta(seconds=seconds)
        delays = {refresher._backoff(failures) for _ in range(50)}
        assert all(timedelta(seconds=1) <= d <= ceiling for d in delays)
        assert len(delays) > 40  # jittered, not one value


def test_connection_refused_backs_off(vault_, standins, make, clock):
    cid = put(vault_, standins, clock, "google", "down@acme.test", timedelta(minutes=5))[0]
    dead = StandinServer().start()
    url = dead.url
    dead.stop()
    report = make(url_rewriter=standins_rewriter(url)).run_once()
    assert report.backed_off == 1
    assert "ConnectError" in info(vault_, cid).last_refresh_error


def test_invalid_grant_marks_needs_reauth(vault_, standins, make, clock):
    cid, refresh, _ = put(vault_, standins, clock, "google", "gone@acme.test", timedelta(minutes=5))
    standins.google.set_scenario("invalid_grant", refresh_token=refresh)
    refresher = make()
    report = refresher.run_once()
    assert report.needs_reauth == 1 and report.outcomes[0].status == 400
    meta = info(vault_, cid)
    assert meta.state == "needs_reauth"
    assert meta.last_refresh_error == "invalid_grant: Token has been expired or revoked."
    event = refresh_events(vault_, cid)[-1]
    assert event.outcome == "error" and event.detail["result"] == "needs_reauth"
    clock.advance(timedelta(hours=1))
    assert refresher.run_once().claimed == 0  # not retried: a person must consent again
    assert standins.google.calls_for(refresh) == 1
    # a new consent (put) reactivates it
    fresh = standins.google.grant("gone@acme.test", CLIENTS["google"][0])
    vault_.put(
        ADMIN,
        "acme",
        "google",
        "gone@acme.test",
        "ya29.new" + secrets.token_urlsafe(20),
        fresh,
        expires_at=clock.now() + timedelta(minutes=1),
    )
    clock.advance(timedelta(seconds=48))  # 80 % of its minute
    assert refresher.run_once().refreshed == 1


def test_needs_reauth_after_a_backoff_counts_the_failure_and_clears_the_schedule(vault_, standins, make, clock):
    """A credential that backed off once and then hits invalid_grant: parked for a person, with both failures
    counted, no retry time and no lease left behind."""
    cid, refresh, _ = put(vault_, standins, clock, "google", "twice@acme.test", timedelta(minutes=5))
    standins.google.set_scenario("500", status=503, times=1)
    refresher = make(rng=MaxRandom())
    assert refresher.run_once().backed_off == 1
    clock.set(info(vault_, cid).next_attempt_at)
    standins.google.revoke(refresh)
    assert refresher.run_once().needs_reauth == 1
    stored = row(vault_, cid)
    assert (
        stored["state"],
        stored["failures"],
        stored["next_attempt_at"],
        stored["lease_owner"],
        stored["lease_until"],
        stored["version"],
    ) == ("needs_reauth", 2, None, None, None, 3)
    assert info(vault_, cid).updated_at == clock.now()
    # the backoff's error is an outcome, not an interrupted call: the invalid_grant is reported as such
    assert info(vault_, cid).last_refresh_error == "invalid_grant: Token has been expired or revoked."
    assert "interrupted" not in refresh_events(vault_, cid)[0].detail


@pytest.mark.parametrize("provider", ["microsoft", "ghl"])
def test_invalid_grant_in_each_dialect(vault_, standins, make, clock, provider):
    cid, refresh, _ = put(vault_, standins, clock, provider, "dead@x.test", timedelta(minutes=5))
    standins.by_name[provider].revoke(refresh)
    report = make().run_once()
    assert report.needs_reauth == 1
    error = info(vault_, cid).last_refresh_error
    assert error.startswith("invalid_grant: ") and refresh not in error
    if provider == "microsoft":
        assert "AADSTS70000" in error


def test_invalid_grant_after_another_worker_rotated_is_not_needs_reauth(vault_, standins, make, clock):
    """Worker A sends the old refresh token after worker B (which took over A's expired lease) rotated it."""
    cid, first, _ = put(vault_, standins, clock, "ghl", "race@ghl.test", timedelta(minutes=5))
    b = make(owner="worker-b")
    b_reports = []

    def before_a_sends(request):
        if not b_reports:
            clock.advance(timedelta(minutes=3))  # A's lease (2 minutes) runs out while it is slow
            b_reports.append(b.run_once())

    with httpx.Client(event_hooks={"request": [before_a_sends]}) as client:
        a_report = make(owner="worker-a", http=client).run_once()
    assert b_reports[0].refreshed == 1
    assert a_report.needs_reauth == 0 and a_report.outcomes[0].result == "superseded"
    assert a_report.outcomes[0].status == 400
    meta = info(vault_, cid)
    assert meta.state == "active" and meta.failures == 0
    with vault_.get(ADMIN, "acme", cid) as tokens:
        assert tokens.refresh_token.reveal() == standins.ghl.latest("race@ghl.test") != first
    assert standins.ghl.calls_for(first) == 2  # B's success and A's invalid_grant
    last = refresh_events(vault_, cid)[0]
    assert last.detail["result"] == "superseded" and last.outcome == "ok"


def test_invalid_grant_for_a_replaced_token_gives_back_a_lease_its_owner_name_holds(vault_, standins, make, clock):
    """Two refreshers configured with one owner name: A's call outlives its lease, the user re-consents (a new
    refresh token) and B (same name) claims the row again. A's invalid_grant is for the replaced token, so it
    is superseded, and the lease under the shared name is given back rather than left to expire."""
    cid, old, _ = put(vault_, standins, clock, "google", "same@acme.test", timedelta(minutes=5))
    b = make(owner="cron")

    def meanwhile(request):
        clock.advance(timedelta(minutes=3))
        fresh = standins.google.grant("same@acme.test", CLIENTS["google"][0])
        vault_.put(
            ADMIN,
            "acme",
            "google",
            "same@acme.test",
            "ya29.re" + secrets.token_urlsafe(20),
            fresh,
            expires_at=clock.now() + timedelta(minutes=1),
        )
        clock.advance(timedelta(seconds=50))
        assert len(b._claim()) == 1
        standins.google.revoke(old)

    with httpx.Client(event_hooks={"request": [meanwhile]}) as client:
        (outcome,) = make(owner="cron", http=client).run_once().outcomes
    assert (outcome.result, outcome.detail, outcome.status) == (
        "superseded",
        "invalid_grant for a refresh token another worker had already replaced",
        400,
    )
    assert refresh_events(vault_, cid)[0].detail == {
        "provider": "google",
        "account": "same@acme.test",
        "owner": "cron",
        "result": "superseded",
        "error": "invalid_grant",
        "note": "refresh token changed meanwhile",
    }
    assert (row(vault_, cid)["lease_owner"], row(vault_, cid)["lease_until"]) == (None, None)
    assert info(vault_, cid).state == "active"


def test_invalid_grant_after_an_interrupted_refresh_says_so(vault_, standins, make, clock):
    """Worker A marks the refresh in flight and dies before the provider's answer is stored; the provider had
    rotated the token in that lost answer. B's invalid_grant is then reported as what it is, with when and who."""
    cid, refresh, _ = put(vault_, standins, clock, "google", "lost@acme.test", timedelta(minutes=5))
    a = make(owner="worker-a")
    (claim,) = a._claim()
    started = clock.now()
    a._prepare(claim).refresh_token.wipe()  # A dies here, mid-call
    marker = f"refresh in flight since {started.isoformat(timespec='seconds')} (worker-a); no outcome recorded yet"
    assert info(vault_, cid).last_refresh_error == marker
    standins.google.revoke(refresh)
    clock.advance(timedelta(minutes=3))
    (outcome,) = make(owner="worker-b").run_once().outcomes
    expected = (
        f"invalid_grant after an interrupted refresh (since {started.isoformat(timespec='seconds')} "
        "(worker-a)): the provider may have rotated the refresh token in an answer that was never stored; "
        "re-authorise"
    )
    assert (outcome.result, outcome.detail) == ("needs_reauth", expected)
    assert (info(vault_, cid).state, info(vault_, cid).last_refresh_error) == ("needs_reauth", expected)
    assert refresh_events(vault_, cid)[0].detail["interrupted"] == marker


def test_invalid_client_is_an_error_not_needs_reauth(vault_, standins, make, clock):
    cid = put(vault_, standins, clock, "google", "cfg@acme.test", timedelta(minutes=5))[0]
    wrong = "GOCSPX-wrong-" + secrets.token_urlsafe(12)
    report = make(endpoints=endpoints({"google": wrong}), rng=MaxRandom()).run_once()
    assert report.errors == 1 and report.needs_reauth == 0
    meta = info(vault_, cid)
    assert meta.state == "active" and meta.failures == 1
    assert meta.next_attempt_at == clock.now() + timedelta(seconds=30)  # retried after the first backoff step
    assert "invalid_client" in meta.last_refresh_error and "Unauthorized" in meta.last_refresh_error
    assert wrong not in meta.last_refresh_error and CLIENTS["google"][1] not in meta.last_refresh_error


def test_expired_microsoft_secret_names_the_code(vault_, standins, make, clock):
    cid = put(vault_, standins, clock, "microsoft", "exp@contoso.test", timedelta(minutes=5))[0]
    standins.microsoft.expire_secret(CLIENTS["microsoft"][0])
    assert make().run_once().errors == 1
    assert "AADSTS7000222" in info(vault_, cid).last_refresh_error


# ---------------------------------------------------------------------------------------------- leases


def test_lease_held_by_another_owner_is_not_stolen_until_it_expires(vault_, standins, make, clock):
    cid, refresh, _ = put(vault_, standins, clock, "google", "leased@acme.test", timedelta(minutes=5))
    other = make(owner="other")
    claims = other._claim()
    assert [c.id for c in claims] == [cid]
    assert row(vault_, cid)["lease_owner"] == "other"
    mine = make(owner="mine")
    clock.advance(timedelta(minutes=1, seconds=59))
    assert mine.run_once().claimed == 0 and standins.google.calls_for(refresh) == 0
    clock.advance(timedelta(seconds=2))  # past the 2-minute lease
    report = mine.run_once()
    assert report.refreshed == 1 and standins.google.calls_for(refresh) == 1
    # the first owner comes back: re-reads, sees the work done, skips without calling the provider
    late = other._process(claims[0])
    assert late.result == "already_fresh"
    assert standins.google.calls_for(refresh) == 1
    assert refresh_events(vault_, cid)[0].detail["result"] == "already_fresh"


def test_a_worker_that_lost_its_lease_does_not_refresh_a_credential_still_due(vault_, standins, make, clock):
    """A stalls past its lease; B takes the credential over and is mid-call when A wakes up. The credential is
    still due, so only the lease says A must not call: a second exchange of GHL's rotating refresh token
    would burn it (B's call would then fail with invalid_grant, or A's answer would be lost)."""
    cid, first, _ = put(vault_, standins, clock, "ghl", "lease@ghl.test", timedelta(minutes=5))
    a = make(owner="worker-a")
    (a_claim,) = a._claim()
    clock.advance(timedelta(minutes=2, seconds=1))  # A's 2-minute lease has run out
    a_outcomes = []

    def while_b_is_calling(request):
        if not a_outcomes:
            assert row(vault_, cid)["lease_owner"] == "worker-b"
            a_outcomes.append(a._process(a_claim))  # A comes back while the credential is still due

    with httpx.Client(event_hooks={"request": [while_b_is_calling]}) as client:
        b_report = make(owner="worker-b", http=client).run_once()
    assert [o.result for o in a_outcomes] == ["lost_lease"]
    assert a_outcomes[0].detail == "another worker took it over"
    assert (b_report.refreshed, b_report.skipped_already_fresh, b_report.needs_reauth) == (1, 0, 0)
    assert standins.ghl.counters() == {"total": 1, "by_account": {"lease@ghl.test": 1}}  # exactly one exchange
    assert standins.ghl.calls_for(first) == 1
    with vault_.get(ADMIN, "acme", cid) as tokens:
        assert tokens.refresh_token.reveal() == standins.ghl.latest("lease@ghl.test") != first
    meta = info(vault_, cid)
    assert meta.state == "active" and meta.failures == 0 and meta.last_refresh_error is None
    skipped = [e for e in refresh_events(vault_, cid) if e.detail["result"] == "lost_lease"]
    assert len(skipped) == 1 and skipped[0].detail["owner"] == "worker-a"
    assert skipped[0].detail["lease_owner"] == "worker-b"


def test_reread_after_lease_skips_a_credential_stored_meanwhile(vault_, standins, make, clock):
    cid, refresh, _ = put(vault_, standins, clock, "google", "reread@acme.test", timedelta(minutes=5))
    refresher = make()
    claims = refresher._claim()
    # the user re-consents between the claim and the refresh (put clears the lease)
    vault_.put(
        ADMIN,
        "acme",
        "google",
        "reread@acme.test",
        "ya29.fresh" + secrets.token_urlsafe(20),
        expires_at=clock.now() + timedelta(hours=1),
    )
    outcome = refresher._process(claims[0])
    assert outcome.result == "already_fresh"
    assert standins.google.calls_for(refresh) == 0


def test_a_clock_stepped_back_after_the_claim_gives_the_credential_back_uncalled(vault_, standins, make, clock):
    """The host's clock steps back (an NTP correction) between the claim and the call: the credential is no
    longer due by this clock, so the refresher gives its lease back without asking the provider, and says so.
    A second credential it holds keeps its lease until its own turn."""
    cid, refresh, _ = put(vault_, standins, clock, "google", "ntp@acme.test", timedelta(minutes=5))
    other, other_refresh, _ = put(vault_, standins, clock, "google", "ntp2@acme.test", timedelta(minutes=6))
    refresher = make(owner="w1")
    claims = {c.id: c for c in refresher._claim()}
    held_until = row(vault_, other)["lease_until"]
    clock.advance(-timedelta(minutes=10))
    outcome = refresher._process(claims[cid])
    assert outcome == RefreshOutcome(
        cid, "acme", "google", "ntp@acme.test", "already_fresh", detail="already refreshed"
    )
    assert (row(vault_, cid)["lease_owner"], row(vault_, cid)["lease_until"]) == (None, None)
    assert (row(vault_, other)["lease_owner"], row(vault_, other)["lease_until"]) == ("w1", held_until)
    assert standins.google.calls_for(refresh) == 0 and standins.google.calls_for(other_refresh) == 0
    (event,) = refresh_events(vault_, cid)
    assert (event.outcome, event.detail) == (
        "ok",
        {"provider": "google", "account": "ntp@acme.test", "owner": "w1", "result": "already_fresh"},
    )


@pytest.mark.parametrize("change", ["revoked", "gone"])
def test_a_credential_revoked_or_deleted_between_the_claim_and_the_call_is_not_called(
    vault_, standins, make, clock, change
):
    cid, refresh, _ = put(vault_, standins, clock, "google", "early@acme.test", timedelta(minutes=5))
    refresher = make(owner="w1")
    (claim,) = refresher._claim()
    if change == "revoked":
        vault_.revoke(ADMIN, "acme", cid)
    else:
        with vault_.engine.begin() as conn:
            conn.execute(sa.text("delete from credentials where id = :id"), {"id": cid})
    outcome = refresher._process(claim)
    assert outcome == RefreshOutcome(
        cid, "acme", "google", "early@acme.test", "superseded", detail=f"credential is {change}"
    )
    assert standins.google.calls_for(refresh) == 0
    (event,) = refresh_events(vault_, cid)
    assert (event.outcome, event.detail) == (
        "ok",
        {"provider": "google", "account": "early@acme.test", "owner": "w1", "result": "superseded", "state": change},
    )


def test_each_credential_of_a_batch_gets_a_fresh_lease_just_before_its_call(vault_, standins, make, clock):
    """A batch is claimed at once but called one by one: a slow first call must not leave the second
    credential's lease to run out during its own call, or another worker would exchange its rotating
    refresh token a second time."""
    first, first_refresh, _ = put(vault_, standins, clock, "ghl", "one@ghl.test", timedelta(minutes=5))
    second, second_refresh, _ = put(vault_, standins, clock, "ghl", "two@ghl.test", timedelta(minutes=6))
    other = make(owner="other")
    taken = []

    def slow(request):
        clock.advance(timedelta(seconds=90))  # each call takes 90 s of the 2-minute lease
        if len(taken) == 1:  # the second call: the second credential's lease must still hold
            taken.append(other.run_once().claimed)
        else:
            taken.append(None)

    with httpx.Client(event_hooks={"request": [slow]}) as client:
        report = make(owner="w1", http=client).run_once()
    assert [o.credential_id for o in report.outcomes] == [first, second]
    assert report.refreshed == 2 and taken == [None, 0]
    assert standins.ghl.calls_for(first_refresh) == 1 and standins.ghl.calls_for(second_refresh) == 1


def test_claims_are_disjoint_and_batched(vault_, standins, make, clock):
    for n in range(7):
        put(vault_, standins, clock, "google", f"b{n}@acme.test", timedelta(minutes=1))
    a, b = make(owner="a", batch=3), make(owner="b", batch=3)
    first, second = a._claim(), b._claim()
    assert len(first) == 3 and len(second) == 3 and not {c.id for c in first} & {c.id for c in second}
    assert len(a._claim()) == 1 and a._claim() == []


def test_interrupted_run_releases_unprocessed_leases(vault_, standins, make, clock):
    ids = [put(vault_, standins, clock, "google", f"i{n}@acme.test", timedelta(minutes=1))[0] for n in range(3)]

    def stop(done, total):
        if done == 1:
            raise KeyboardInterrupt

    refresher = make()
    with pytest.raises(KeyboardInterrupt):
        refresher.run_once(progress=stop)
    leased = [row(vault_, cid)["lease_owner"] for cid in ids]
    assert leased == [None, None, None]
    assert make().run_once().refreshed == 2


def test_leases_that_cannot_be_given_back_are_left_to_expire_with_a_warning(vault_, standins, make, clock, caplog):
    """The database goes away while a run is interrupted: the interruption still reaches the caller, and the
    operator is told how many leases will only free themselves when they expire."""
    for n in range(3):
        put(vault_, standins, clock, "google", f"w{n}@acme.test", timedelta(minutes=1))
    engine = sa.create_engine(str(vault_.engine.url.render_as_string(hide_password=False)))

    def stop(done, total):
        if done == 1:
            with engine.begin() as conn:
                conn.execute(sa.text("alter table credentials rename to credentials_away"))
            raise KeyboardInterrupt

    try:
        with caplog.at_level(logging.WARNING, logger="vault.refresh"), pytest.raises(KeyboardInterrupt):
            make().run_once(progress=stop)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("alter table credentials_away rename to credentials"))
        engine.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "vault.refresh"]
    assert len(warnings) == 1 and warnings[0].startswith("could not release 2 refresh leases (")
    assert warnings[0].endswith("); they expire on their own")


@pytest.mark.parametrize("answer", ["ok", "invalid_grant"])
@pytest.mark.parametrize("change", ["revoked", "gone"])
def test_a_credential_revoked_or_deleted_during_the_call_is_not_written(vault_, standins, make, clock, answer, change):
    """The user revokes (or a database admin deletes the row) while the provider is being asked: the answer is
    not written over it, and the outcome and audit entry say what became of the credential."""
    cid, refresh, _ = put(vault_, standins, clock, "google", "rv@acme.test", timedelta(minutes=5))
    if answer == "invalid_grant":
        standins.google.set_scenario("invalid_grant", refresh_token=refresh)

    def meanwhile(request):
        if change == "revoked":
            vault_.revoke(ADMIN, "acme", cid)
        else:
            with vault_.engine.begin() as conn:
                conn.execute(sa.text("delete from credentials where id = :id"), {"id": cid})

    with httpx.Client(event_hooks={"request": [meanwhile]}) as client:
        (outcome,) = make(owner="w1", http=client).run_once().outcomes
    detail, status, audit = {
        "ok": (
            f"credential became {change} meanwhile; answer discarded",
            None,
            {"result": "superseded", "state": change, "discarded": True},
        ),
        "invalid_grant": (f"credential is {change}", 400, {"result": "superseded", "state": change}),
    }[answer]
    assert (outcome.result, outcome.detail, outcome.status) == ("superseded", detail, status)
    (event,) = refresh_events(vault_, cid)
    assert (event.outcome, event.detail) == (
        "ok",
        {"provider": "google", "account": "rv@acme.test", "owner": "w1", **audit},
    )
    assert [i.state for i in vault_.list(ADMIN)] == (["revoked"] if change == "revoked" else [])


@pytest.mark.parametrize("new_refresh", [True, False], ids=["new-refresh-token", "same-refresh-token"])
def test_an_answer_is_discarded_only_if_newer_tokens_were_stored_during_the_call(
    vault_, standins, make, clock, new_refresh
):
    """A put lands while the provider is being asked. With a new refresh token it is newer than our answer,
    which is discarded; with the refresh token we sent still stored, our answer is the live successor and
    is written."""
    cid, refresh, _ = put(vault_, standins, clock, "google", "mid@acme.test", timedelta(minutes=5))
    theirs = "ya29.theirs" + secrets.token_urlsafe(20)

    def meanwhile(request):
        fresh = standins.google.grant("mid@acme.test", CLIENTS["google"][0]) if new_refresh else None
        vault_.put(ADMIN, "acme", "google", "mid@acme.test", theirs, fresh, expires_at=clock.now() + timedelta(hours=1))

    with httpx.Client(event_hooks={"request": [meanwhile]}) as client:
        (outcome,) = make(owner="w1", http=client).run_once().outcomes
    (event,) = refresh_events(vault_, cid)
    with vault_.get(ADMIN, "acme", cid) as tokens:
        stored = tokens.access_token.reveal()
    if new_refresh:
        assert (outcome.result, outcome.detail) == ("superseded", "new tokens were stored meanwhile; answer discarded")
        assert event.detail == {
            "provider": "google",
            "account": "mid@acme.test",
            "owner": "w1",
            "result": "superseded",
            "discarded": True,
        }
        assert stored == theirs
    else:
        assert (outcome.result, event.detail["result"]) == ("refreshed", "refreshed")
        assert stored == standins.google.last_access_token("mid@acme.test") != theirs


def test_a_refresher_over_a_vault_that_caches_no_key(db_url, standins, make, clock):
    """``dek_cache_ttl=0``: every step of a refresh gets its keys afresh from the ring it was handed."""
    with Vault.init(db_url, StaticKeySource(KEY), clock, dek_cache_ttl=0) as v:
        ok = put(v, standins, clock, "ghl", "ok@ghl.test", timedelta(minutes=5))
        busy = put(v, standins, clock, "google", "busy@acme.test", timedelta(minutes=5))
        dead = put(v, standins, clock, "microsoft", "dead@contoso.test", timedelta(minutes=5))
        standins.microsoft.revoke(dead[1])
        standins.google.set_scenario("500", status=503, times=1)
        report = make(vault=v).run_once()
        assert {o.credential_id: o.result for o in report.outcomes} == {
            ok[0]: "refreshed",
            busy[0]: "backed_off",
            dead[0]: "needs_reauth",
        }
        gone = put(v, standins, clock, "google", "gone@acme.test", timedelta(minutes=5))[0]
        refresher = make(vault=v)
        (claim,) = refresher._claim()
        v.revoke(ADMIN, "acme", gone)
        assert refresher._process(claim).detail == "credential is revoked"
        # a put during the call that keeps the refresh token we sent: telling it from a newer one opens the stored
        # refresh token with a key fetched afresh from the ring
        mid = put(v, standins, clock, "google", "mid@acme.test", timedelta(minutes=5))[0]

        def meanwhile(request):
            v.put(
                ADMIN,
                "acme",
                "google",
                "mid@acme.test",
                "ya29.theirs" + secrets.token_urlsafe(20),
                None,
                expires_at=clock.now() + timedelta(hours=1),
            )

        with httpx.Client(event_hooks={"request": [meanwhile]}) as client:
            assert [(o.credential_id, o.result) for o in make(vault=v, http=client).run_once().outcomes] == [
                (mid, "refreshed")
            ]
        assert v.verify_audit(ADMIN).ok


def test_on_postgresql_every_reread_of_a_claimed_row_is_locked(pg_url, standins, clock):
    """The re-read before the call and the one before each outcome is written hold the row (FOR UPDATE), so
    a put, a revoke or another refresher cannot slip between the check and the write."""
    with Vault.init(pg_url, StaticKeySource(KEY), clock) as v:
        put(v, standins, clock, "ghl", "ok@ghl.test", timedelta(minutes=5))
        put(v, standins, clock, "google", "busy@acme.test", timedelta(minutes=5))
        dead = put(v, standins, clock, "microsoft", "dead@contoso.test", timedelta(minutes=5))
        standins.microsoft.revoke(dead[1])
        standins.google.set_scenario("500", status=503, times=1)
        rereads: list[bool] = []

        def record(conn, cursor, statement, params, context, executemany):
            if "credentials.last_refresh_error" in statement and statement.lstrip().startswith("SELECT"):
                rereads.append(statement.rstrip().endswith("FOR UPDATE"))

        sa.event.listen(v.engine, "before_cursor_execute", record)
        with Refresher(
            v, BOT, endpoints=endpoints(), clock=clock, url_rewriter=standins_rewriter(standins.server.url)
        ) as refresher:
            assert refresher.run_once().claimed == 3
        assert rereads == [True] * 6  # each credential: before the call, and before its outcome is written


# -------------------------------------------------------------------------------- audit, rbac, progress


def test_audit_entries_for_each_outcome_hold_no_token(vault_, standins, make, clock, caplog):
    caplog.set_level(logging.DEBUG)
    ok = put(vault_, standins, clock, "ghl", "ok@ghl.test", timedelta(minutes=5))
    busy = put(vault_, standins, clock, "google", "busy@acme.test", timedelta(minutes=5))
    dead = put(vault_, standins, clock, "microsoft", "dead@contoso.test", timedelta(minutes=5))
    standins.microsoft.revoke(dead[1])
    standins.google.set_scenario("500", times=1)
    report = make().run_once()
    assert (report.refreshed, report.backed_off, report.needs_reauth) == (1, 1, 1)
    by_target = {e.target: e for e in refresh_events(vault_)}
    assert by_target[ok[0]].outcome == "ok" and by_target[ok[0]].detail["result"] == "refreshed"
    assert by_target[busy[0]].outcome == "error" and by_target[busy[0]].detail["result"] == "backed_off"
    assert by_target[dead[0]].outcome == "error" and by_target[dead[0]].detail["result"] == "needs_reauth"
    for event in by_target.values():
        assert event.actor == "refresher" and event.tenant == "acme"
    assert vault_.verify_audit(ADMIN).ok
    tokens = [
        *standins.google.issued_tokens(),
        *standins.microsoft.issued_tokens(),
        *standins.ghl.issued_tokens(),
        ok[2],
        busy[2],
        dead[2],
        *(c[1] for c in CLIENTS.values()),
    ]
    stored = everything_stored(vault_)
    logged = caplog.text + repr(report) + json.dumps(report.as_dict())
    for token in tokens:
        assert token not in stored
        assert token not in logged
        assert base64.b64encode(token.encode()).decode() not in stored


def test_each_outcome_and_its_audit_entry_whole(vault_, standins, make, clock):
    """What the report and the audit log say for a refresh, a backoff and a dead grant, field by field."""
    ok = put(vault_, standins, clock, "ghl", "ok@ghl.test", timedelta(minutes=5))
    busy = put(vault_, standins, clock, "google", "busy@acme.test", timedelta(minutes=5))
    dead = put(vault_, standins, clock, "microsoft", "dead@contoso.test", timedelta(minutes=5))
    previous = info(vault_, ok[0]).token_fingerprint
    standins.microsoft.revoke(dead[1])
    standins.google.set_scenario("500", status=503, times=1)
    report = make(owner="w1", rng=MaxRandom()).run_once()
    now = clock.now()
    by_id = {o.credential_id: o for o in report.outcomes}
    fp = info(vault_, ok[0]).token_fingerprint
    reauth = by_id[dead[0]].detail
    assert reauth.startswith("invalid_grant: AADSTS70000: ")
    assert by_id == {
        ok[0]: RefreshOutcome(
            ok[0], "acme", "ghl", "ok@ghl.test", "refreshed", status=200, fingerprint=fp, rotated=True
        ),
        busy[0]: RefreshOutcome(
            busy[0],
            "acme",
            "google",
            "busy@acme.test",
            "backed_off",
            detail="HTTP 503 from the token endpoint",
            status=503,
            next_attempt_at=now + timedelta(seconds=30),
        ),
        dead[0]: RefreshOutcome(
            dead[0], "acme", "microsoft", "dead@contoso.test", "needs_reauth", detail=reauth, status=400
        ),
    }
    events = {e.target: e for e in refresh_events(vault_)}
    assert {e.actor for e in events.values()} == {"refresher"}
    refreshed = dict(events[ok[0]].detail)
    assert refreshed.pop("refresh_fingerprint").startswith("hmac:")
    assert (events[ok[0]].outcome, refreshed) == (
        "ok",
        {
            "provider": "ghl",
            "account": "ok@ghl.test",
            "owner": "w1",
            "result": "refreshed",
            "fingerprint": fp,
            "previous": previous,
            "rotated": True,
            "expires_at": (now + timedelta(seconds=86399)).isoformat(),
            "dek_version": 1,
        },
    )
    assert (events[busy[0]].outcome, events[busy[0]].detail) == (
        "error",
        {
            "provider": "google",
            "account": "busy@acme.test",
            "owner": "w1",
            "result": "backed_off",
            "error": "HTTP 503 from the token endpoint",
            "status": 503,
            "failures": 1,
            "retry_in_s": 30.0,
        },
    )
    assert (events[dead[0]].outcome, events[dead[0]].detail) == (
        "error",
        {
            "provider": "microsoft",
            "account": "dead@contoso.test",
            "owner": "w1",
            "result": "needs_reauth",
            "error": "invalid_grant",
            "description": reauth.removeprefix("invalid_grant: "),
            "status": 400,
        },
    )
    assert (info(vault_, busy[0]).last_refresh_error, info(vault_, dead[0]).last_refresh_error) == (
        "HTTP 503 from the token endpoint",
        reauth,
    )
    assert info(vault_, ok[0]).refresh_due_at == now + timedelta(seconds=86399 - 600)


def test_progress_callback(vault_, standins, make, clock):
    for n in range(4):
        put(vault_, standins, clock, "google", f"p{n}@acme.test", timedelta(minutes=1))
    put(vault_, standins, clock, "google", "later@acme.test", timedelta(hours=3))
    calls = []
    report = make(batch=3, progress=lambda done, total: calls.append((done, total))).run_once()
    assert report.refreshed == 4
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_progress_total_adjusts_when_other_workers_take_some(vault_, standins, make, clock):
    ids = [put(vault_, standins, clock, "google", f"q{n}@acme.test", timedelta(minutes=1))[0] for n in range(3)]
    calls = []
    first = make(owner="first")
    theirs = make(owner="theirs", batch=1)._claim()  # another worker holds one lease
    assert len(theirs) == 1
    first.run_once(progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 2), (1, 2), (2, 2)]
    assert len(ids) == 3


def test_progress_ends_on_what_was_done_when_another_worker_took_some_mid_run(vault_, standins, make, clock):
    for n in range(3):
        put(vault_, standins, clock, "google", f"r{n}@acme.test", timedelta(minutes=1))
    other = make(owner="other", batch=1)
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if done == 0:
            assert len(other._claim()) == 1  # counted as claimable, then taken before our first claim

    assert make(owner="first").run_once(progress=progress).refreshed == 2
    assert calls == [(0, 3), (1, 3), (2, 3), (2, 2)]


def test_the_run_report_its_times_and_its_log_line(vault_, standins, make, clock, caplog):
    """The report spans the run on the refresher's clock, and the operator's log gets the counts by kind."""
    put(vault_, standins, clock, "ghl", "ok@ghl.test", timedelta(minutes=5))
    put(vault_, standins, clock, "ghl", "ok2@ghl.test", timedelta(minutes=5))
    put(vault_, standins, clock, "google", "busy@acme.test", timedelta(minutes=5))
    dead = put(vault_, standins, clock, "microsoft", "dead@contoso.test", timedelta(minutes=5))
    standins.microsoft.revoke(dead[1])
    standins.google.set_scenario("500", status=503, times=1)
    started = clock.now()

    def slow(request):
        clock.advance(timedelta(seconds=5))

    with httpx.Client(event_hooks={"request": [slow]}) as client, caplog.at_level(logging.INFO, logger="vault.refresh"):
        report = make(owner="w1", http=client).run_once()
    assert (report.started_at, report.finished_at) == (started, started + timedelta(seconds=20))
    assert (report.refreshed, report.skipped_already_fresh, report.needs_reauth, report.backed_off, report.errors) == (
        2,
        0,
        1,
        1,
        0,
    )
    assert [r.getMessage() for r in caplog.records if r.name == "vault.refresh"] == [
        "refresh run by w1: 2 refreshed, 0 skipped, 1 needs_reauth, 1 backed off, 0 errors"
    ]


def test_viewer_may_not_refresh_and_the_denial_is_audited(vault_, standins, make, clock):
    put(vault_, standins, clock, "google", "v@acme.test", timedelta(minutes=1))
    with pytest.raises(AccessDenied):
        make(actor=Actor("val", Role.VIEWER)).run_once()
    denied = [e for e in vault_.audit_events(ADMIN) if e.op == "refresh" and e.outcome == "denied"]
    assert len(denied) == 1 and standins.google.counters()["total"] == 0


def test_service_actor_refreshes_only_its_tenants(vault_, standins, make, clock):
    mine = put(vault_, standins, clock, "google", "m@acme.test", timedelta(minutes=1))[0]
    theirs = put(vault_, standins, clock, "google", "t@globex.test", timedelta(minutes=1), tenant="globex")[0]
    report = make(actor=Actor("acme-sync", Role.SERVICE, frozenset({"acme"}))).run_once()
    assert [o.credential_id for o in report.outcomes] == [mine]
    assert info(vault_, theirs).last_refresh_at is None


# ------------------------------------------------------------------------------------------ configuration


def test_endpoint_repr_masks_the_secret_and_rewriter_follows_the_standins_rule():
    ep = ProviderEndpoint.google("id-1", "GOCSPX-very-secret-value")
    assert "very-secret" not in repr(ep) and "Secret(***)" in repr(ep)
    rewrite = standins_rewriter("http://127.0.0.1:9999/")
    assert rewrite(GOOGLE_TOKEN_URL) == f"http://127.0.0.1:9999/{GOOGLE_HOST}/token"
    assert rewrite(GHL_TOKEN_URL + "?a=1") == f"http://127.0.0.1:9999/{GHL_HOST}/oauth/token?a=1"
    assert ProviderEndpoint.microsoft("contoso.onmicrosoft.com", "id", "s").token_url == (
        f"https://{MICROSOFT_HOST}/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert standins_rewriter(None)(GOOGLE_TOKEN_URL) == GOOGLE_TOKEN_URL
    with pytest.raises(ValueError):
        ProviderEndpoint.microsoft(" ", "id", "s")


def test_endpoints_from_env():
    env = {
        "GOOGLE_OAUTH_CLIENT_ID": "g",
        "GOOGLE_OAUTH_CLIENT_SECRET": "gs",
        "MICROSOFT_OAUTH_CLIENT_ID": "m",
        "MICROSOFT_OAUTH_CLIENT_SECRET": "ms",
    }
    assert sorted(endpoints_from_env(env)) == ["google"]  # Microsoft needs its tenant
    env["MICROSOFT_TENANT_ID"] = TENANT_ID
    found = endpoints_from_env(env)
    assert sorted(found) == ["google", "microsoft"] and TENANT_ID in found["microsoft"].token_url
    assert isinstance(found["google"].client_secret, Secret)


def test_lease_must_outlast_the_timeout(vault_):
    with pytest.raises(ValueError, match="lease"):
        Refresher(vault_, BOT, endpoints={}, lease=timedelta(seconds=15), timeout=10)


LEAD_RULE = "lead and base_backoff must be positive, and max_backoff at least base_backoff"


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"batch": 0}, "batch must be at least 1"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"timeout": -1.0}, "timeout must be positive"),
        (
            {"lease": timedelta(seconds=20), "timeout": 10},
            "lease (0:00:20) must be longer than twice the HTTP timeout (10 s), or a slow provider lets another worker "
            "take the credential mid-refresh",
        ),
        ({"lead": timedelta(0)}, LEAD_RULE),
        ({"base_backoff": timedelta(0)}, LEAD_RULE),
        ({"max_backoff": timedelta(seconds=29)}, LEAD_RULE),
    ],
    ids=["batch", "timeout-zero", "timeout-negative", "lease-exactly-twice", "lead", "base-backoff", "max-backoff"],
)
def test_refresher_settings_are_refused_with_what_to_fix(vault_, settings, message):
    with pytest.raises(ValueError) as err:
        Refresher(vault_, BOT, endpoints={}, **settings)
    assert str(err.value) == message


def test_refresher_defaults_and_the_edges_it_accepts(vault_, clock):
    with Refresher(
        vault_,
        BOT,
        endpoints=endpoints(),
        batch=1,
        lease=timedelta(seconds=20.001),
        timeout=10,
        max_backoff=timedelta(seconds=30),
        lead=timedelta(microseconds=1),
    ) as edge:
        assert (edge.batch, edge.max_backoff) == (1, edge.base_backoff)
    r = Refresher(vault_, BOT, endpoints=endpoints())
    host, pid, tag = r.owner.rsplit(":", 2)
    assert (host, pid, len(tag), int(tag, 16) >= 0) == (socket.gethostname(), str(os.getpid()), 8, True)
    assert (r.lead, r.lease, r.batch, r.timeout, r.base_backoff, r.max_backoff) == (
        timedelta(minutes=10),
        timedelta(minutes=2),
        50,
        10.0,
        timedelta(seconds=30),
        timedelta(hours=1),
    )
    assert r.clock is clock and r.url_rewriter(GOOGLE_TOKEN_URL) == GOOGLE_TOKEN_URL
    assert (r.http.headers["User-Agent"], r.http.follow_redirects, r.http.timeout) == (
        "readiness-vault-refresher/1",
        False,
        httpx.Timeout(10.0),
    )
    assert repr(r) == f"Refresher(owner={r.owner!r}, providers=['ghl', 'google', 'microsoft'])"
    r.close()
    assert r.http.is_closed
    with httpx.Client() as theirs:
        Refresher(vault_, BOT, endpoints={}, http=theirs, owner="w1").close()
        assert not theirs.is_closed  # not the refresher's to close


def test_report_as_dict_is_the_json_the_cli_prints(clock):
    later = clock.now() + timedelta(minutes=5)
    report = RefreshReport(
        "w1",
        clock.now(),
        later,
        refreshed=1,
        backed_off=1,
        outcomes=(
            RefreshOutcome("c1", "acme", "google", "a", "refreshed", status=200, fingerprint="hmac:ab", rotated=True),
            RefreshOutcome(
                "c2", "acme", "ghl", "b", "backed_off", detail="HTTP 503", status=503, next_attempt_at=later
            ),
        ),
    )
    assert report.claimed == 2
    assert report.as_dict() == {
        "owner": "w1",
        "started_at": clock.now().isoformat(),
        "finished_at": later.isoformat(),
        "refreshed": 1,
        "skipped_already_fresh": 0,
        "needs_reauth": 0,
        "backed_off": 1,
        "errors": 0,
        "outcomes": [
            {
                "credential_id": "c1",
                "tenant": "acme",
                "provider": "google",
                "account": "a",
                "result": "refreshed",
                "detail": None,
                "status": 200,
                "rotated": True,
                "fingerprint": "hmac:ab",
                "next_attempt_at": None,
            },
            {
                "credential_id": "c2",
                "tenant": "acme",
                "provider": "ghl",
                "account": "b",
                "result": "backed_off",
                "detail": "HTTP 503",
                "status": 503,
                "rotated": False,
                "fingerprint": None,
                "next_attempt_at": later.isoformat(),
            },
        ],
    }


def test_endpoints_their_urls_and_the_standins_rule_literally():
    assert repr(ProviderEndpoint.ghl("cid", "s3cret")) == (
        f"ProviderEndpoint({GHL_TOKEN_URL!r}, client_id='cid', client_secret=Secret(***))"
    )
    env = {
        "GOOGLE_OAUTH_CLIENT_ID": " g ",
        "GOOGLE_OAUTH_CLIENT_SECRET": "gs",
        "GHL_OAUTH_CLIENT_ID": "h",
        "GHL_OAUTH_CLIENT_SECRET": "hs",
        "MICROSOFT_OAUTH_CLIENT_ID": "m",
        "MICROSOFT_OAUTH_CLIENT_SECRET": "ms",
        "MICROSOFT_TENANT_ID": f" {TENANT_ID} ",
    }
    found = endpoints_from_env(env)
    assert {name: (e.token_url, e.client_id, e.client_secret.reveal(), e.send_scope) for name, e in found.items()} == {
        "google": (GOOGLE_TOKEN_URL, "g", "gs", False),
        "microsoft": (f"https://{MICROSOFT_HOST}/{TENANT_ID}/oauth2/v2.0/token", "m", "ms", True),
        "ghl": (GHL_TOKEN_URL, "h", "hs", False),
    }
    assert (
        endpoints_from_env(
            {
                "GHL_OAUTH_CLIENT_ID": "  ",
                "GHL_OAUTH_CLIENT_SECRET": "hs",
                "GOOGLE_OAUTH_CLIENT_ID": "g",
                "MICROSOFT_OAUTH_CLIENT_SECRET": "ms",
                "MICROSOFT_TENANT_ID": TENANT_ID,
            }
        )
        == {}
    )
    assert endpoints_from_env({**env, "MICROSOFT_TENANT_ID": " "}).keys() == {"google", "ghl"}
    with pytest.raises(ValueError) as err:
        ProviderEndpoint.microsoft(" ", "id", "s")
    assert str(err.value) == "a Microsoft token endpoint needs the tenant: set MICROSOFT_TENANT_ID"
    rewrite = standins_rewriter("http://127.0.0.1:9999//")
    assert rewrite("https://example.test") == "http://127.0.0.1:9999/example.test/"
    assert rewrite("https://example.test/a/b") == "http://127.0.0.1:9999/example.test/a/b"
    assert standins_rewriter("")(GHL_TOKEN_URL) == GHL_TOKEN_URL


# ------------------------------------------------------------------------------------------ the stand-ins


def post(server, host, path, data=None, auth=None):
    return httpx.post(f"{server.url}/{host}{path}", data=data, auth=auth)


def test_google_standin_speaks_googles_errors(standins):
    cid, secret = CLIENTS["google"]
    server = standins.server
    unknown = post(
        server,
        GOOGLE_HOST,
        "/token",
        {"client_id": "nope", "client_secret": "x", "grant_type": "refresh_token", "refresh_token": "1//x"},
    )
    assert unknown.status_code == 401
    assert unknown.json() == {"error": "invalid_client", "error_description": "The OAuth client was not found."}
    wrong = post(
        server,
        GOOGLE_HOST,
        "/token",
        {"client_id": cid, "client_secret": "x", "grant_type": "refresh_token", "refresh_token": "1//x"},
    )
    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid_client", "error_description": "Unauthorized"}
    code = post(
        server,
        GOOGLE_HOST,
        "/token",
        {
            "client_id": cid,
            "client_secret": secret,
            "grant_type": "authorization_code",
            "code": "4/0Aany",
            "redirect_uri": "https://x.test/cb",
        },
    )
    assert code.status_code == 400
    assert code.json() == {"error": "invalid_grant", "error_description": "Malformed auth code."}
    revoked = post(
        server,
        GOOGLE_HOST,
        "/token",
        {"client_id": cid, "client_secret": secret, "grant_type": "refresh_token", "refresh_token": "1//unknown"},
    )
    assert revoked.status_code == 400
    assert revoked.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    refresh = standins.google.grant("u@acme.test", cid)
    ok = post(
        server, GOOGLE_HOST, "/token", {"grant_type": "refresh_token", "refresh_token": refresh}, auth=(cid, secret)
    )  # HTTP Basic client authentication works too
    body = ok.json()
    assert ok.status_code == 200 and set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["access_token"].startswith("ya29.") and body["expires_in"] == 3599 and body["token_type"] == "Bearer"
    again = post(
        server, GOOGLE_HOST, "/token", {"grant_type": "refresh_token", "refresh_token": refresh}, auth=(cid, secret)
    ).json()
    assert again["access_token"] != body["access_token"]  # random, never constant


def test_microsoft_standin_speaks_aadsts(standins):
    cid, secret = CLIENTS["microsoft"]
    server = standins.server
    base = {"client_id": cid, "client_secret": secret, "grant_type": "refresh_token", "refresh_token": "0.Ax"}

    def call(tenant=TENANT_ID, **changes):
        response = post(server, MICROSOFT_HOST, f"/{tenant}/oauth2/v2.0/token", {**base, **changes})
        return response.status_code, response.json()

    status, body = call(tenant="00000000-dead-beef-0000-000000000000")
    assert status == 400 and body["error_codes"] == [90002] and body["error_description"].startswith("AADSTS90002")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    status, body = call(client_id="ffffffff-0000-0000-0000-000000000000")
    assert (status, body["error"], body["error_codes"]) == (400, "unauthorized_client", [700016])
    status, body = call(client_secret="wrong")
    assert (status, body["error"], body["error_codes"]) == (401, "invalid_client", [7000215])
    status, body = call()
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_grant", [70000])
    assert body["error_description"].startswith("AADSTS70000: ")
    refresh = standins.microsoft.grant("u@contoso.test", cid, tenant=TENANT_ID)
    status, body = call(refresh_token=refresh, scope="offline_access")
    assert status == 200 and body["refresh_token"] != refresh and body["access_token"].startswith("eyJ")
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and "ext_expires_in" in body
    standins.microsoft.expire_secret(cid)
    status, body = call(refresh_token=body["refresh_token"])
    assert (status, body["error_codes"]) == (401, [7000222])


def test_ghl_standin_rotates_and_retires(standins):
    cid, secret = CLIENTS["ghl"]
    refresh = standins.ghl.grant("loc_123", cid)
    form = {"client_id": cid, "client_secret": secret, "grant_type": "refresh_token", "refresh_token": refresh}
    first = post(standins.server, GHL_HOST, "/oauth/token", form)
    body = first.json()
    assert first.status_code == 200 and body["expires_in"] == 86399 and body["userType"] == "Location"
    assert body["locationId"] == "loc_123" and body["companyId"] and body["refresh_token"] != refresh
    reuse = post(standins.server, GHL_HOST, "/oauth/token", form)
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    bad = post(standins.server, GHL_HOST, "/oauth/token", {**form, "client_secret": "no"})
    assert bad.json() == {"error": "invalid_client", "error_description": "Invalid client: client is invalid"}
    assert standins.ghl.counters() == {"total": 3, "by_account": {"loc_123": 3}}


def test_standin_control_surface(standins):
    url = f"{standins.server.url}/_standins/{GHL_HOST}"
    cid, secret = CLIENTS["ghl"]
    tokens = httpx.post(f"{url}/grant_many", json={"accounts": ["a", "b"], "client_id": cid}).json()["tokens"]
    assert httpx.post(f"{url}/scenario", json={"name": "429", "retry_after": 7, "times": 1}).json() == {"ok": True}
    form = {"client_id": cid, "client_secret": secret, "grant_type": "refresh_token", "refresh_token": tokens["a"]}
    limited = post(standins.server, GHL_HOST, "/oauth/token", form)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert post(standins.server, GHL_HOST, "/oauth/token", form).status_code == 200  # times=1 ran out
    httpx.post(f"{url}/scenario", json={"name": "garbage"})
    garbage = post(standins.server, GHL_HOST, "/oauth/token", form)
    assert garbage.status_code == 200 and garbage.headers["content-type"].startswith("text/html")
    counters = httpx.get(f"{url}/counters").json()
    assert counters == {"total": 3, "by_account": {"a": 3}}
    assert httpx.get(f"{url}/latest").json()["a"] != tokens["a"]
    assert httpx.post(f"{url}/scenario", json={"name": "bogus"}).status_code == 400
    httpx.post(f"{url}/reset")
    assert httpx.get(f"{url}/counters").json() == {"total": 0, "by_account": {}}


# ------------------------------------------------------------------------------------ four processes on PG


def test_four_refresher_processes_refresh_every_credential_exactly_once(pg_url):
    n = 200
    ghl = GhlOAuthStandin()  # rotates, and a used refresh token stops working: a double refresh would show
    cid, secret = CLIENTS["ghl"]
    ghl.register_client(cid, secret)
    now = datetime.now(UTC)
    issued = FixedClock(now - timedelta(minutes=55))  # hour-long tokens with 5 minutes left: all due
    vault_ = Vault.init(pg_url, StaticKeySource(KEY), issued)
    with StandinServer([ghl]) as server:
        ids = {}
        for i in range(n):
            account = f"loc_{i:04d}"
            refresh = ghl.grant(account, cid)
            ids[account] = vault_.put(
                ADMIN,
                f"tenant-{i % 7}",
                "ghl",
                account,
                "eyJold." + secrets.token_urlsafe(24),
                refresh,
                expires_at=now + timedelta(minutes=5),
            )
        env = {
            **os.environ,
            "TOKEN_VAULT_ENCRYPTION_KEY": base64.b64encode(KEY).decode(),
            "REFRESH_WORKER_CLIENT_SECRET": secret,
        }
        workers = [
            subprocess.Popen(
                [sys.executable, str(WORKER), pg_url, server.url, f"w{k}", "ghl", cid, "10"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for k in range(4)
        ]
        try:
            for worker in workers:
                assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
            started = time.perf_counter()
            for worker in workers:
                worker.stdin.write("go\n")
                worker.stdin.flush()
            results = []
            for worker in workers:
                out, err = worker.communicate(timeout=120)
                assert worker.returncode == 0, err
                results.append(json.loads(out.strip().splitlines()[-1]))
            wall = time.perf_counter() - started
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        counters = ghl.counters()
        latest = ghl.latest()

    refreshed_ids = [i for r in results for i in r["ids"]]
    assert sorted(refreshed_ids) == sorted(ids.values())  # each exactly once, across the four
    assert sum(r["refreshed"] for r in results) == n
    assert all(r["needs_reauth"] == 0 and r["errors"] == 0 and r["backed_off"] == 0 for r in results)
    assert counters["total"] == n
    assert counters["by_account"] == dict.fromkeys(ids, 1)
    for account, credential in ids.items():
        with vault_.get(ADMIN, f"tenant-{int(account[4:]) % 7}", credential) as tokens:
            assert tokens.refresh_token.reveal() == latest[account]  # none lost
            assert tokens.access_token.reveal() == ghl.last_access_token(account)
    issued.set(datetime.now(UTC))
    assert all(i.state == "active" and i.failures == 0 and i.last_refresh_at is not None for i in vault_.list(ADMIN))
    assert vault_.verify_audit(ADMIN).ok
    share = sorted(r["refreshed"] for r in results)
    print(
        f"\n4 refresher processes, {n} credentials: {wall:.2f} s wall, {n / wall:.0f} credentials/s, per worker {share}"
    )
    assert sum(1 for s in share if s) >= 2  # the work really was shared
    vault_.close()


def test_a_row_whose_metadata_was_edited_is_not_refreshed_and_the_refusal_is_audited(vault_, standins, make, clock):
    cid, refresh, _ = put(vault_, standins, clock, "google", "ops@acme.test", timedelta(minutes=5))
    with vault_.engine.begin() as conn:  # a database writer re-points the credential at another account
        conn.execute(sa.text("update credentials set account = 'mallory@evil.test' where id = :id"), {"id": cid})
    clock.advance(timedelta(seconds=30))
    report = make().run_once()
    assert (report.claimed, report.refreshed, report.errors) == (1, 0, 1)
    assert report.outcomes[0].detail == "vault: IntegrityError"
    assert standins.google.calls_for(refresh) == 0  # the refresh token never left the vault
    event = refresh_events(vault_, cid)[0]
    assert event.outcome == "error" and event.detail["error"] == "vault: IntegrityError"
