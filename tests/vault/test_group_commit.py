"""Group commit: audited operations sharing one transaction (``Vault._group``, used by the vault service on SQLite
through :class:`vault.service_batch.GroupCommit`). Each operation stays all-or-nothing and audited, one failing
does not take the others with it, and nothing counts until the group has committed."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from vault import Actor, Role, StaticKeySource, Vault, VaultError
from vault.client import VaultClient
from vault.service_app import ServiceSettings
from vault.service_batch import GroupCommit
from vault.service_tokens import ServiceTokens

from .conftest import STORE_KEY
from .service_helpers import OffsetClock, database, make_tls, running_service

ADMIN = Actor("ada", Role.ADMIN)
SERVICE = Actor("svc:wizard", Role.SERVICE, frozenset({"acme"}))


def _put(vault: Vault, account: str) -> str:
    expires = datetime.now(UTC) + timedelta(hours=1)
    return vault.put(ADMIN, "acme", "google", account, f"ya29.{account}", f"1//{account}", expires_at=expires)


def _gets(raw: sa.Engine) -> list[tuple[str, str | None]]:
    with raw.connect() as conn:
        rows = conn.execute(sa.text("select outcome, target from audit_events where op = 'get' order by seq"))
        return [(r[0], r[1]) for r in rows]


def test_gets_in_a_group_are_each_audited_and_count_only_once_it_commits(vault_, raw):
    first, second = _put(vault_, "a@acme.test"), _put(vault_, "b@acme.test")
    with vault_._group():
        one = vault_.get(SERVICE, "acme", first)
        two = vault_.get(SERVICE, "acme", second)
        assert _gets(raw) == []  # another connection sees nothing yet: one transaction, not yet committed
    assert (one.access_token.reveal(), two.access_token.reveal()) == ("ya29.a@acme.test", "ya29.b@acme.test")
    assert _gets(raw) == [("ok", first), ("ok", second)]
    assert vault_.verify_audit(ADMIN).ok


def test_an_operation_that_fails_in_a_group_rolls_back_alone_and_is_audited(vault_, raw):
    good, gone = _put(vault_, "a@acme.test"), _put(vault_, "b@acme.test")
    vault_.revoke(ADMIN, "acme", gone)
    with vault_._group():
        with pytest.raises(VaultError, match="revoked"):
            vault_.get(SERVICE, "acme", gone)
        assert vault_.get(SERVICE, "acme", good).access_token.reveal() == "ya29.a@acme.test"
    assert _gets(raw) == [("error", gone), ("ok", good)]
    assert vault_.verify_audit(ADMIN).ok


def test_a_group_that_does_not_commit_leaves_no_entry_and_the_chain_whole(vault_, raw):
    cid = _put(vault_, "a@acme.test")
    with pytest.raises(RuntimeError, match="client went away"), vault_._group():
        vault_.get(SERVICE, "acme", cid).wipe()
        raise RuntimeError("client went away")
    assert _gets(raw) == []
    vault_.get(SERVICE, "acme", cid).wipe()  # the chain goes on from where the rolled-back group left it
    assert _gets(raw) == [("ok", cid)]
    assert vault_.verify_audit(ADMIN).ok


def test_the_external_anchor_follows_the_group_head_not_a_rolled_back_savepoint(db_url, clock, tmp_path):
    anchor = tmp_path / "anchor.log"
    vault = Vault.init(db_url, StaticKeySource(STORE_KEY), clock, anchor=f"file:{anchor}")
    try:
        cid = _put(vault, "a@acme.test")
        vault.revoke(ADMIN, "acme", _put(vault, "b@acme.test"))
        with vault._group():
            vault.get(SERVICE, "acme", cid).wipe()
            with pytest.raises(VaultError):
                vault.get(SERVICE, "acme", "no-such-credential")
        report = vault.verify_audit(ADMIN)
        assert report.ok, report.reason
        assert report.external and "behind" not in report.external
    finally:
        vault.close()


def test_groups_do_not_nest():
    vault = Vault.init("sqlite://", StaticKeySource(STORE_KEY))
    try:
        with vault._group(), pytest.raises(RuntimeError, match="already grouped"), vault._group():
            pass
    finally:
        vault.close()


def test_requests_that_arrive_together_share_one_commit(vault_, raw):
    ids = [_put(vault_, f"u{i}@acme.test") for i in range(8)]
    batch = GroupCommit(vault_)

    async def main() -> list[str]:
        def reveal(cid: str) -> str:
            with vault_.get(SERVICE, "acme", cid) as tokens:
                return tokens.access_token.reveal()

        return await asyncio.gather(*(batch.run(reveal, cid) for cid in ids))

    assert asyncio.run(main()) == [f"ya29.u{i}@acme.test" for i in range(8)]
    assert (batch.groups, batch.grouped) == (1, 8)
    assert _gets(raw) == [("ok", cid) for cid in ids]
    assert vault_.verify_audit(ADMIN).ok


def test_a_request_that_fails_in_a_group_answers_its_own_error(vault_):
    cid = _put(vault_, "a@acme.test")
    batch = GroupCommit(vault_)

    async def main() -> list[object]:
        def reveal(credential: str) -> str:
            with vault_.get(SERVICE, "acme", credential) as tokens:
                return tokens.access_token.reveal()

        runs = (batch.run(reveal, cid), batch.run(reveal, "missing"), batch.run(reveal, cid))
        return await asyncio.gather(*runs, return_exceptions=True)

    first, missing, last = asyncio.run(main())
    assert first == last == "ya29.a@acme.test"
    assert isinstance(missing, VaultError) and "no credential" in str(missing)
    assert batch.groups == 1


def test_when_the_group_cannot_take_the_write_lock_every_request_fails_and_none_is_served(sqlite_url, clock):
    vault = Vault.init(sqlite_url, StaticKeySource(STORE_KEY), clock)
    cid = _put(vault, "a@acme.test")
    # Another writer (a rotation in another process, say) holds SQLite's write lock; wait 50 ms, not 10 s.
    sa.event.listen(vault.engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout=50"))
    vault.engine.dispose()
    batch = GroupCommit(vault)

    def reveal(credential: str) -> str:
        with vault.get(SERVICE, "acme", credential) as tokens:
            return tokens.access_token.reveal()

    async def main() -> list[object]:
        return await asyncio.gather(*(batch.run(reveal, cid) for _ in range(3)), return_exceptions=True)

    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        answers = asyncio.run(main())
        # (SQLite's own error: the lock is taken by BEGIN IMMEDIATE, which the service answers as unavailable)
        assert all(isinstance(a, sqlite3.OperationalError) and "locked" in str(a) for a in answers), answers
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _gets(sa.create_engine(sqlite_url)) == []  # nothing served, nothing audited
    assert asyncio.run(main()) == ["ya29.a@acme.test"] * 3  # the lock released: served, in one group
    assert batch.groups == 2
    vault.close()


# ------------------------------------------------------------------------------------- through the service


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("tls"))


def _serve(tmp_path, tls):
    clock = OffsetClock()
    stack = contextlib.ExitStack()
    url = stack.enter_context(database("sqlite", tmp_path))
    svc = stack.enter_context(running_service(url, tls, clock, settings=ServiceSettings(rate=1e6, burst=10**6)))
    token = ServiceTokens(svc.vault).create(ADMIN, "wizard", Role.SERVICE, tenants=["acme"]).token.reveal()
    svc.vault.put(
        ADMIN, "acme", "google", "ops@acme.test", "ya29.grouped", "1//g", expires_at=clock.now() + timedelta(hours=1)
    )
    return stack, svc, token, url


def test_concurrent_gets_over_tls_are_grouped_and_every_one_is_audited(tmp_path, tls):
    stack, svc, token, _ = _serve(tmp_path, tls)
    with stack:

        def fetch(_: int) -> str:
            with VaultClient(svc.url, token, verify=tls.context()) as c:
                return "".join(c.get_token("acme", "google", "ops@acme.test").access_token.reveal() for _ in range(4))

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(fetch, range(16)))
        assert answers == ["ya29.grouped" * 4] * 16
        gets = [e for e in svc.vault.audit_events(ADMIN, 200) if e.op == "get"]
        assert len(gets) == 64 and {e.actor for e in gets} == {"svc:wizard"} and {e.outcome for e in gets} == {"ok"}
        assert svc.vault.verify_audit(ADMIN).ok
        ops = ServiceTokens(svc.vault).create(ADMIN, "ops", Role.ADMIN).token.reveal()
        with httpx.Client(base_url=svc.url, verify=tls.context()) as h:
            text = h.get("/metrics", headers={"Authorization": f"Bearer {ops}"}).text
        metric = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("vault_")}
        assert metric["vault_service_grouped_requests_total"] == 64
        assert 1 <= metric["vault_service_group_commits_total"] <= 64


def test_a_locked_database_answers_unavailable_and_serves_no_token(tmp_path, tls):
    stack, svc, token, url = _serve(tmp_path, tls)
    with stack:
        sa.event.listen(svc.vault.engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout=50"))
        svc.vault.engine.dispose()
        other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with httpx.Client(base_url=svc.url, verify=tls.context()) as h:
                response = h.get("/v1/tokens/acme/google/ops@acme.test", headers={"Authorization": f"Bearer {token}"})
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
        assert response.headers["retry-after"] == "5" and "ya29" not in response.text
        with VaultClient(svc.url, token, verify=tls.context()) as c:  # the lock gone, served again
            assert c.get_token("acme", "google", "ops@acme.test").access_token.reveal() == "ya29.grouped"


def test_a_threaded_group_works_off_the_loop_in_one_commit(vault_, raw):
    """PostgreSQL's mode: the group runs in a worker thread of its own, so the loop is free while it commits."""
    ids = [_put(vault_, f"t{i}@acme.test") for i in range(6)]
    batch = GroupCommit(vault_, threaded=True)
    threads: set[int] = set()

    def reveal(cid: str) -> str:
        threads.add(threading.get_ident())
        with vault_.get(SERVICE, "acme", cid) as tokens:
            return tokens.access_token.reveal()

    async def main() -> tuple[list[str], int]:
        answers = await asyncio.gather(*(batch.run(reveal, cid) for cid in ids))
        return answers, threading.get_ident()

    try:
        answers, loop_thread = asyncio.run(main())
    finally:
        batch.close()
    assert answers == [f"ya29.t{i}@acme.test" for i in range(6)]
    assert (batch.groups, batch.grouped) == (1, 6)
    assert len(threads) == 1 and loop_thread not in threads
    assert _gets(raw) == [("ok", cid) for cid in ids]
    assert vault_.verify_audit(ADMIN).ok


@pytest.mark.parametrize("threaded", [True, False], ids=["off-the-loop", "in-the-loop"])
def test_a_lone_request_is_answered_once_its_own_entry_is_committed(vault_, raw, threaded):
    """One request waiting, in either mode (PostgreSQL's off the loop, SQLite's in it): no group around it (its
    operations commit as they go, with no savepoint to pay for), answered only once its audit entry is durable; a
    failure is its own answer, audited."""
    cid = _put(vault_, "a@acme.test")
    batch = GroupCommit(vault_, threaded=threaded)
    threads: set[int] = set()

    def reveal(credential: str) -> str:
        threads.add(threading.get_ident())
        with vault_.get(SERVICE, "acme", credential) as tokens:
            return tokens.access_token.reveal()

    async def main() -> tuple[str, list[tuple[str, str | None]], int]:
        answer = await batch.run(reveal, cid)
        seen = _gets(raw)  # another connection, the moment the answer is in
        with pytest.raises(VaultError, match="no credential"):
            await batch.run(reveal, "missing")
        return answer, seen, threading.get_ident()

    try:
        answer, seen, loop_thread = asyncio.run(main())
    finally:
        batch.close()
    assert answer == "ya29.a@acme.test" and seen == [("ok", cid)]
    assert _gets(raw) == [("ok", cid), ("error", "missing")]
    assert (batch.groups, batch.grouped) == (2, 2)
    assert threads and (loop_thread not in threads if threaded else threads == {loop_thread})
    assert vault_.verify_audit(ADMIN).ok
