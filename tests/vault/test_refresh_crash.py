"""The refresher's crash window: refresher processes killed with SIGKILL mid-cycle, on SQLite and PostgreSQL.

A provider that rotates refresh tokens and retires the used one (GHL) turns a crash after its answer and
before our commit into a lost credential: the new refresh token died with the process. These tests pin
what the refresher promises about that window: it holds no lock across the call, it writes the answer in
one short transaction, a crash costs at most the one credential in flight, and the credential's state says
why it needs the user again. The many-kills figure is ``tests/bench/refresh_kill.py``.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa

from checks.standins.oauth import GhlOAuthStandin
from checks.standins.server import StandinServer
from tests.vault.kill_harness import INTERRUPTED, kill_runs
from tests.vault.kill_harness import KEY as HARNESS_KEY
from vault import Actor, Role, StaticKeySource, Vault
from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter
from vault.refresh_settle import IN_FLIGHT

KEY = bytes(range(9, 41))
ADMIN = Actor("ada", Role.ADMIN)
CLIENT = ("66f1e2d3c4b5a69788-mcrash", "ghl-secret-0123456789abcdef")


@pytest.fixture
def ghl(db_url, clock):
    standin = GhlOAuthStandin()
    standin.register_client(*CLIENT)
    vault = Vault.init(db_url, StaticKeySource(KEY), clock)
    with StandinServer([standin]) as server:
        yield SimpleNamespace(standin=standin, vault=vault, server=server, db_url=db_url)
    vault.close()


def _put(env, clock, account):
    refresh = env.standin.grant(account, CLIENT[0])
    now = clock.now()
    clock.set(now - timedelta(minutes=55))
    try:
        return env.vault.put(
            ADMIN, "acme", "ghl", account, "old-access", refresh, expires_at=now + timedelta(minutes=5)
        )
    finally:
        clock.set(now)


def _refresher(env, clock, **kw):
    return Refresher(
        env.vault,
        ADMIN,
        clock=clock,
        endpoints={"ghl": ProviderEndpoint.ghl(*CLIENT)},
        url_rewriter=standins_rewriter(env.server.url),
        **kw,
    )


def _info(vault, cid):
    return next(i for i in vault.list(ADMIN) if i.id == cid)


def test_no_lock_is_held_during_the_call_and_the_refresh_is_marked_in_flight(ghl, clock):
    """While the token endpoint is being called, another connection can write the row (no transaction, no
    row lock) and sees the in-flight marker; the answer's write clears it."""
    cid = _put(ghl, clock, "loc_inflight")
    seen = []

    def during_call(request):
        engine = sa.create_engine(ghl.db_url)
        try:
            with engine.connect() as conn:
                if conn.dialect.name == "sqlite":  # the database write lock is free
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                else:  # the row lock is free (NOWAIT fails at once if anybody held it)
                    conn.exec_driver_sql("SET lock_timeout = '200ms'")
                row = conn.execute(
                    sa.text(
                        "select last_refresh_error, lease_owner from credentials where id = :id"
                        + ("" if conn.dialect.name == "sqlite" else " for update nowait")
                    ),
                    {"id": cid},
                ).one()
                conn.execute(sa.text("update credentials set updated_at = updated_at where id = :id"), {"id": cid})
                conn.rollback()
                seen.append(tuple(row))
        finally:
            engine.dispose()

    with httpx.Client(event_hooks={"request": [during_call]}) as client:
        report = _refresher(ghl, clock, http=client, owner="w-inflight").run_once()
    assert report.refreshed == 1
    error, owner = seen[0]
    assert owner == "w-inflight"
    assert error is not None and error.startswith(IN_FLIGHT) and "w-inflight" in error
    assert _info(ghl.vault, cid).last_refresh_error is None


def test_an_interrupted_refresh_followed_by_invalid_grant_says_so(ghl, clock):
    """The call reached the provider (which rotated and retired the token), then the process died: the
    next cycle's invalid_grant is explained, in the state and the audit entry."""
    cid = _put(ghl, clock, "loc_dead")

    class Died(BaseException):
        pass

    def die(response):
        raise Died  # after the provider answered, before anything was stored

    with httpx.Client(event_hooks={"response": [die]}) as client, pytest.raises(Died):
        _refresher(ghl, clock, http=client, owner="w-dead").run_once()
    clock.advance(timedelta(minutes=3))  # past the dead worker's lease
    report = _refresher(ghl, clock, owner="w-next").run_once()
    assert report.needs_reauth == 1
    meta = _info(ghl.vault, cid)
    assert meta.state == "needs_reauth"
    assert meta.last_refresh_error.startswith("invalid_grant after an interrupted refresh")
    assert "w-dead" in meta.last_refresh_error and "re-authorise" in meta.last_refresh_error
    event = [e for e in ghl.vault.audit_events(ADMIN, limit=100) if e.op == "refresh"][0]
    assert event.detail["result"] == "needs_reauth" and "w-dead" in event.detail["interrupted"]


@pytest.mark.parametrize("rotate, retire", [(True, False), (False, False)], ids=["microsoft-like", "google-like"])
def test_an_interrupted_refresh_costs_nothing_where_the_old_token_stays_valid(ghl, clock, rotate, retire):
    cid = _put(ghl, clock, "loc_kept")
    ghl.standin.set_rotation(rotate, retire_used=retire)

    class Died(BaseException):
        pass

    def die(response):
        raise Died

    with httpx.Client(event_hooks={"response": [die]}) as client, pytest.raises(Died):
        _refresher(ghl, clock, http=client, owner="w-dead").run_once()
    clock.advance(timedelta(minutes=3))
    assert _refresher(ghl, clock).run_once().refreshed == 1
    meta = _info(ghl.vault, cid)
    assert meta.state == "active" and meta.last_refresh_error is None


def test_a_plain_invalid_grant_is_not_blamed_on_a_crash(ghl, clock):
    cid = _put(ghl, clock, "loc_revoked")
    with ghl.vault.get(ADMIN, "acme", cid) as tokens:
        ghl.standin.revoke(tokens.refresh_token.reveal())
    assert _refresher(ghl, clock).run_once().needs_reauth == 1
    error = _info(ghl.vault, cid).last_refresh_error
    assert error.startswith("invalid_grant") and INTERRUPTED not in error


def test_a_late_answer_revives_the_credential_its_own_exchange_made_needs_reauth(ghl, clock):
    """Worker A is slow past its lease; B takes over and presents the token A already exchanged: GHL says
    invalid_grant and B concludes needs_reauth. A's answer holds the only live refresh token: it is stored."""
    cid = _put(ghl, clock, "loc_late")
    b = _refresher(ghl, clock, owner="worker-b")
    b_reports = []

    def after_a_got_its_answer(response):
        if not b_reports:
            clock.advance(timedelta(minutes=3))
            b_reports.append(b.run_once())

    with httpx.Client(event_hooks={"response": [after_a_got_its_answer]}) as client:
        a_report = _refresher(ghl, clock, http=client, owner="worker-a").run_once()
    assert b_reports[0].needs_reauth == 1 and a_report.refreshed == 1
    meta = _info(ghl.vault, cid)
    assert meta.state == "active" and meta.last_refresh_error is None
    with ghl.vault.get(ADMIN, "acme", cid) as tokens:
        assert tokens.refresh_token.reveal() == ghl.standin.latest("loc_late")
        assert ghl.standin.is_live(tokens.refresh_token.reveal())
    assert ghl.vault.verify_audit(ADMIN).ok


def test_a_worker_that_lost_its_lease_cannot_overwrite_newer_tokens(ghl, clock):
    """Microsoft-style rotation (the old token stays valid): A is slow, B refreshes and stores; A's answer,
    arriving later, is discarded rather than written over B's."""
    cid = _put(ghl, clock, "loc_two")
    ghl.standin.set_rotation(True, retire_used=False)
    b = _refresher(ghl, clock, owner="worker-b")
    b_reports = []

    def after_a_got_its_answer(response):
        if not b_reports:
            clock.advance(timedelta(minutes=3))
            b_reports.append(b.run_once())

    with httpx.Client(event_hooks={"response": [after_a_got_its_answer]}) as client:
        a_report = _refresher(ghl, clock, http=client, owner="worker-a").run_once()
    assert b_reports[0].refreshed == 1 and a_report.outcomes[0].result == "superseded"
    with ghl.vault.get(ADMIN, "acme", cid) as tokens:
        assert tokens.access_token.reveal() == ghl.standin.last_access_token("loc_two")
        assert tokens.refresh_token.reveal() == ghl.standin.latest("loc_two")


# ----------------------------------------------------------------------------------- real processes, SIGKILL


def test_sigkill_inside_the_window_costs_the_one_credential_and_says_why(db_url):
    """The stand-in kills the refresher process right after issuing a new token, before answering: the
    irreducible window, hit on purpose. GHL retires the used token, so that one credential is lost, and
    its state says why; every other one is refreshed by the restarted refresher."""
    result = kill_runs(db_url, provider="ghl", n=8, runs=1, mode="window", seed=3, timeout=60)
    assert result.kills == 1
    assert result.lost == 1 == result.lost_explained, result.errors
    assert "re-authorise" in result.errors[0]


def test_random_sigkills_lose_at_most_the_one_in_flight_and_say_so(db_url):
    """Kills at random moments of a GHL refresh cycle; a restarted refresher finishes the job. Whatever
    was lost is explained; the database and the audit chain survive."""
    result = kill_runs(db_url, provider="ghl", n=12, runs=2, mode="random", seed=11, timeout=60)
    assert result.runs == 2
    assert all(run["lost"] <= 1 for run in result.per_run), result.per_run
    assert result.lost == result.lost_explained, result.errors
    with Vault.open(db_url, StaticKeySource(HARNESS_KEY)) as vault:
        assert vault.verify_audit(ADMIN).ok
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
