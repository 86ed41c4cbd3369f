"""``Vault._get_account``: the vault service's get, which finds a credential by account in the statement that reads
it and lets the caller decline the row (missing, revoked, due) before anything is opened or audited. On SQLite and
PostgreSQL, through ``db_url``."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from vault import AccessDenied, Actor, IntegrityError, Role, VaultError

ADMIN = Actor("ada", Role.ADMIN)
SERVICE = Actor("svc:wizard", Role.SERVICE, frozenset({"acme"}))


def _entries(raw: sa.Engine) -> list[tuple[str, str, str | None, str]]:
    with raw.connect() as conn:
        rows = conn.execute(
            sa.text("select op, actor, target, outcome from audit_events where op = 'get' order by seq")
        )
        return [tuple(r) for r in rows]


def _count(raw: sa.Engine) -> int:
    with raw.connect() as conn:
        return int(conn.execute(sa.text("select count(*) from audit_events")).scalar_one())


def _put(vault_, account: str = "ops@acme.test", **kw) -> str:
    return vault_.put(ADMIN, "acme", "google", account, f"ya29.{account}", f"1//{account}", **kw)


def test_an_admitted_get_reveals_and_audits_as_get_does(vault_, raw, clock):
    cid = _put(vault_, expires_at=clock.now() + timedelta(hours=1), scopes=["openid"])
    seen = []

    def admit(row):
        seen.append(row)
        return True

    with vault_._get_account(SERVICE, "acme", "google", "ops@acme.test", admit) as tokens:
        assert tokens.access_token.reveal() == "ya29.ops@acme.test"
        assert tokens.refresh_token.reveal() == "1//ops@acme.test"
        assert (tokens.credential_id, tokens.scopes, tokens.expires_at) == (
            cid,
            ["openid"],
            clock.now() + timedelta(hours=1),
        )
    (row,) = seen
    assert (row["id"], row["state"], row["provider"], row["account"]) == (cid, "active", "google", "ops@acme.test")
    assert row["refresh_due_at"] is not None and row["next_attempt_at"] is None and row["refresh_ct"] is not None
    with vault_.get(SERVICE, "acme", cid) as tokens:  # the same entry as get's: target the credential id
        pass
    assert _entries(raw) == [("get", "svc:wizard", cid, "ok")] * 2
    detail = [e.detail for e in vault_.audit_events(ADMIN, 10) if e.op == "get"]
    assert detail[0] == detail[1] and detail[0]["account"] == "ops@acme.test"
    assert vault_.verify_audit(ADMIN).ok


def test_a_declined_row_reveals_nothing_and_writes_nothing(vault_, raw):
    cid = _put(vault_)
    vault_.revoke(ADMIN, "acme", cid)
    before = _count(raw)
    seen = []

    def decline(row):
        seen.append(row)
        return False

    assert vault_._get_account(SERVICE, "acme", "google", "ops@acme.test", decline) is None
    assert vault_._get_account(SERVICE, "acme", "google", "nobody@acme.test", decline) is None
    assert [r["state"] if r else None for r in seen] == ["revoked", None]
    assert _count(raw) == before and _entries(raw) == []
    assert vault_.verify_audit(ADMIN).ok


def test_the_account_is_looked_up_in_the_callers_tenant_and_provider_only(vault_):
    vault_.put(ADMIN, "globex", "google", "ops@acme.test", "ya29.globex")
    vault_.put(ADMIN, "acme", "microsoft", "ops@acme.test", "ya29.microsoft")
    seen = []
    with pytest.raises(VaultError, match="no google credential for 'ops@acme.test' in tenant 'acme'"):
        vault_._get_account(SERVICE, "acme", "google", "ops@acme.test", lambda row: seen.append(row) or True)
    assert seen == [None]  # nothing of globex's, nor the microsoft one


def test_a_revoked_row_admitted_anyway_is_refused_and_audited(vault_, raw):
    cid = _put(vault_)
    vault_.revoke(ADMIN, "acme", cid)
    with pytest.raises(VaultError, match="was revoked"):
        vault_._get_account(SERVICE, "acme", "google", "ops@acme.test", lambda row: True)
    assert _entries(raw) == [("get", "svc:wizard", "google/ops@acme.test", "error")]


def test_an_actor_outside_the_tenant_is_denied_before_any_read(vault_, raw):
    _put(vault_)
    outsider = Actor("svc:other", Role.SERVICE, frozenset({"globex"}))
    seen = []
    with pytest.raises(AccessDenied):
        vault_._get_account(outsider, "acme", "google", "ops@acme.test", lambda row: seen.append(row) or True)
    assert seen == []
    denied = [e for e in vault_.audit_events(ADMIN, 10) if e.outcome == "denied"]
    assert [(e.actor, e.target) for e in denied] == [("svc:other", "google/ops@acme.test")]


def test_an_edited_row_fails_its_mac_and_reveals_nothing(vault_, raw):
    _put(vault_)
    with raw.begin() as conn:
        conn.execute(sa.text("update credentials set account = 'ops@acme.test', scopes = '[\"admin\"]'"))
    with pytest.raises(IntegrityError):
        vault_._get_account(SERVICE, "acme", "google", "ops@acme.test", lambda row: True)
    assert _entries(raw) == [("get", "svc:wizard", "google/ops@acme.test", "error")]


def test_a_declined_row_in_a_group_leaves_the_others_work_to_commit(vault_, raw):
    first, second = _put(vault_, "a@acme.test"), _put(vault_, "b@acme.test")
    with vault_._group():
        vault_.get(SERVICE, "acme", first).wipe()
        assert vault_._get_account(SERVICE, "acme", "google", "b@acme.test", lambda row: False) is None
        vault_._get_account(SERVICE, "acme", "google", "b@acme.test", lambda row: True).wipe()
    assert _entries(raw) == [("get", "svc:wizard", first, "ok"), ("get", "svc:wizard", second, "ok")]
    assert vault_.verify_audit(ADMIN).ok
