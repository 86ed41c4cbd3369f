"""The vault service's on-demand refresh: 32 concurrent gets of one due credential make one provider refresh
(one server, SQLite and PostgreSQL; two replicas on PostgreSQL), and tokens stored through one replica are
served by another. The provider is the Google token stand-in on loopback, counting its calls."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from checks.standins.oauth import GoogleOAuthStandin
from checks.standins.server import StandinServer
from vault import Role
from vault.client import VaultClient
from vault.service_tokens import ServiceTokens

from .service_helpers import ADMIN, GOOGLE_CLIENT, OffsetClock, database, make_tls, put_due, running_service

CLIENTS = 32


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def google():
    stand = GoogleOAuthStandin()
    stand.register_client(*GOOGLE_CLIENT)
    with StandinServer([stand]) as server:
        stand.url = server.url
        yield stand


async def _gather_gets(urls, token, tls, account):
    """``CLIENTS`` gets at once, spread over ``urls`` (one connection each): the access tokens answered."""

    async def one(i):
        async with httpx.AsyncClient(base_url=urls[i % len(urls)], verify=tls.context()) as h:
            response = await h.get(f"/v1/tokens/acme/google/{account}", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return response.json()

    return await asyncio.gather(*(one(i) for i in range(CLIENTS)))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_32_concurrent_gets_of_a_due_credential_make_one_refresh(kind, tls, google, tmp_path):
    clock = OffsetClock()
    with database(kind, tmp_path) as url, running_service(url, tls, clock, standins_url=google.url) as svc:
        token = ServiceTokens(svc.vault).create(ADMIN, "wizard", Role.SERVICE, tenants=["acme"]).token.reveal()
        refresh = google.grant("due@acme.test", GOOGLE_CLIENT[0])
        old = "ya29.a0old-" + secrets.token_urlsafe(20)
        put_due(svc.vault, clock, "acme", "due@acme.test", refresh, old)
        answers = asyncio.run(_gather_gets([svc.url], token, tls, "due@acme.test"))
        assert google.calls_for(refresh) == 1
        served = {a["access_token"] for a in answers}
        assert served == {google.last_access_token("due@acme.test")} and old not in served
        assert sum(a["refreshed"] for a in answers) == 1
        assert svc.refresh.refreshes == 1
        # and it is no longer due: the next get serves the stored token without calling the provider
        with VaultClient(svc.url, token, verify=tls.context()) as c:
            assert not c.get_token("acme", "google", "due@acme.test").refreshed
        assert google.calls_for(refresh) == 1


def test_a_credential_the_provider_refuses_answers_needs_reauth(tls, google, tmp_path):
    clock = OffsetClock()
    with database("sqlite", tmp_path) as url, running_service(url, tls, clock, standins_url=google.url) as svc:
        token = ServiceTokens(svc.vault).create(ADMIN, "wizard", Role.SERVICE, tenants=["acme"]).token.reveal()
        put_due(svc.vault, clock, "acme", "gone@acme.test", "1//0gnever-issued-" + secrets.token_urlsafe(16))
        from vault.client import VaultServiceError

        with VaultClient(svc.url, token, verify=tls.context()) as c:
            for _ in range(2):  # the first get learns it, the second reads the stored state
                with pytest.raises(VaultServiceError) as refused:
                    c.get_token("acme", "google", "gone@acme.test")
                assert (refused.value.status, refused.value.code) == (409, "needs_reauth")


def test_replicas_on_one_postgresql_behave_as_one(tls, google, tmp_path):
    clock = OffsetClock()
    with (
        database("postgresql", tmp_path) as url,
        running_service(url, tls, clock, standins_url=google.url) as one,
        running_service(url, tls, clock, standins_url=google.url) as two,
    ):
        token = ServiceTokens(one.vault).create(ADMIN, "wizard", Role.SERVICE, tenants=["acme"]).token.reveal()
        access = "ya29.a0replica-" + secrets.token_urlsafe(20)
        with VaultClient(one.url, token, verify=tls.context()) as a:
            a.put_token("acme", "google", "stored@acme.test", access, expires_in=3600)
        with VaultClient(two.url, token, verify=tls.context()) as b:
            assert b.get_token("acme", "google", "stored@acme.test").access_token.reveal() == access
            b.revoke("acme", "google", "stored@acme.test")
        ServiceTokens(two.vault).revoke(ADMIN, "wizard")  # an identity revoked through one replica …
        with VaultClient(one.url, token, verify=tls.context()) as a:
            from vault.client import VaultServiceError

            with pytest.raises(VaultServiceError) as refused:  # … is refused by the other
                a.list()
            assert refused.value.code == "unauthorized"
        token = ServiceTokens(one.vault).create(ADMIN, "wizard2", Role.SERVICE, tenants=["acme"]).token.reveal()
        refresh = google.grant("shared@acme.test", GOOGLE_CLIENT[0])
        put_due(one.vault, clock, "acme", "shared@acme.test", refresh)
        answers = asyncio.run(_gather_gets([one.url, two.url], token, tls, "shared@acme.test"))
        assert google.calls_for(refresh) == 1
        assert {a["access_token"] for a in answers} == {google.last_access_token("shared@acme.test")}
        assert one.refresh.refreshes + two.refresh.refreshes == 1
        assert one.vault.verify_audit(ADMIN).ok


def test_an_expired_token_whose_refresh_fails_is_refresh_failed_not_a_dead_token(tls, google, tmp_path):
    from datetime import timedelta

    from vault.client import VaultServiceError

    clock = OffsetClock()
    with database("sqlite", tmp_path) as url, running_service(url, tls, clock, standins_url=google.url) as svc:
        token = ServiceTokens(svc.vault).create(ADMIN, "wizard", Role.SERVICE, tenants=["acme"]).token.reveal()
        refresh = google.grant("late@acme.test", GOOGLE_CLIENT[0])
        stale = "ya29.a0stale-" + secrets.token_urlsafe(20)
        clock.offset -= timedelta(hours=2)
        svc.vault.put(
            ADMIN, "acme", "google", "late@acme.test", stale, refresh, expires_at=clock.now() + timedelta(hours=1)
        )  # expired an hour ago
        clock.offset = timedelta(0)
        google.set_scenario("500")
        with VaultClient(svc.url, token, verify=tls.context()) as c, pytest.raises(VaultServiceError) as failed:
            c.get_token("acme", "google", "late@acme.test")
        assert (failed.value.status, failed.value.code) == (502, "refresh_failed") and failed.value.retry_after
        assert stale not in str(failed.value)
