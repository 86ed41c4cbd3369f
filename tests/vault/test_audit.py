"""The audit chain on SQLite and PostgreSQL: every operation recorded, every kind of tampering detected."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import sqlalchemy as sa

import vault.store_credentials
from vault import (
    AccessDenied,
    Actor,
    IntegrityError,
    Role,
    Secret,
    StaticKeySource,
    Vault,
    VaultError,
)
from vault.audit import GENESIS, AuditChain, canonical_json
from vault.crypto import hmac_fingerprint
from vault.models import AuditEventRecord

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
ADMIN = Actor("ada", Role.ADMIN)
AUDITOR = Actor("aud", Role.AUDITOR)
SERVICE = Actor("svc", Role.SERVICE, frozenset({"acme"}))
TOKEN = "ya29.audit-plaintext-token-0123456789"


def _events(raw: sa.Engine) -> list[dict]:
    with raw.connect() as conn:
        query = sa.select(AuditEventRecord).order_by(AuditEventRecord.seq)
        return [dict(r._mapping) for r in conn.execute(query)]


def _busy_log(v: Vault) -> None:
    """Ten-odd entries of every outcome."""
    a = v.put(ADMIN, "acme", "google", "a", TOKEN, "refresh-1")
    v.put(SERVICE, "acme", "ghl", "loc", TOKEN + "-ghl")
    v.get(SERVICE, "acme", a).wipe()
    with pytest.raises(AccessDenied):
        v.get(SERVICE, "globex", a)
    with pytest.raises(VaultError):
        v.get(ADMIN, "acme", "no-such-id")
    v.list(AUDITOR)
    v.revoke(ADMIN, "acme", a)
    v.stats(AUDITOR)


# ---------------------------------------------------------------------------------------- what's recorded


def test_every_operation_is_recorded_with_its_outcome(vault_):
    _busy_log(vault_)
    events = list(reversed(vault_.audit_events(AUDITOR, limit=50)))
    assert [(e.op, e.outcome, e.actor) for e in events] == [
        ("init", "ok", "vault"),
        ("put", "ok", "ada"),
        ("put", "ok", "svc"),
        ("get", "ok", "svc"),
        ("get", "denied", "svc"),
        ("get", "error", "ada"),
        ("list", "ok", "aud"),
        ("revoke", "ok", "ada"),
        ("stats", "ok", "aud"),
    ]
    assert [e.seq for e in events] == list(range(1, 10))
    assert events[4].tenant == "globex" and "scoped to tenants acme" in events[4].detail["reason"]
    assert events[5].detail["error"] == "VaultError"
    assert vault_.verify_audit(AUDITOR).ok
    assert vault_.audit_events(ADMIN, limit=2)[0].op == "audit_verify"
    assert [e.op for e in vault_.audit_events(ADMIN, limit=3, tenant="globex")] == ["get"]


def test_each_operations_entry_names_who_what_and_its_detail_whole(vault_, clock):
    """What a security reviewer reads for each kind of call: actor, role, op, tenant, target, outcome and
    the detail, literally (a token only as its fingerprint)."""
    expires = clock.now() + timedelta(hours=1)
    vault_.put(
        ADMIN, "acme", "google", "a", TOKEN, "refresh-1", expires_at=expires, scopes=["openid"], credential_id="cred-a"
    )
    vault_.put(SERVICE, "acme", "google", "a", TOKEN + "-2")
    vault_.get(SERVICE, "acme", "cred-a").wipe()
    vault_.list(ADMIN, "acme", "google")
    vault_.list(SERVICE)
    vault_.revoke(ADMIN, "acme", "cred-a")
    vault_.revoke(ADMIN, "acme", "cred-a")
    with pytest.raises(VaultError):
        vault_.get(ADMIN, "acme", "cred-a")
    with pytest.raises(AccessDenied) as denied:
        vault_.get(SERVICE, "globex", "cred-b")
    vault_.stats(AUDITOR, "acme")
    vault_.audit_events(AUDITOR, 5, tenant="acme")
    report = vault_.verify_audit(AUDITOR)
    reason = "actor 'svc' is scoped to tenants acme, not 'globex'"
    assert str(denied.value) == f"access denied: {reason}"
    events = sorted(vault_.audit_events(ADMIN, limit=100), key=lambda e: e.seq)[1:]
    fp1, fp2 = events[0].detail["fingerprint"], vault_.list(ADMIN)[0].token_fingerprint
    assert fp1.startswith("hmac:") and fp1 != fp2
    assert {e.at for e in events} == {clock.now()}
    assert [(e.actor, e.role, e.op, e.tenant, e.target, e.outcome, e.detail) for e in events] == [
        (
            "ada",
            "admin",
            "put",
            "acme",
            "cred-a",
            "ok",
            {
                "provider": "google",
                "account": "a",
                "fingerprint": fp1,
                "dek_version": 1,
                "created": True,
                "has_refresh_token": True,
                "scopes": ["openid"],
                "expires_at": expires.isoformat(),
            },
        ),
        (
            "svc",
            "service",
            "put",
            "acme",
            "cred-a",
            "ok",
            {
                "provider": "google",
                "account": "a",
                "fingerprint": fp2,
                "dek_version": 1,
                "created": False,
                "has_refresh_token": True,
                "scopes": [],
                "expires_at": None,
            },
        ),
        (
            "svc",
            "service",
            "get",
            "acme",
            "cred-a",
            "ok",
            {"provider": "google", "account": "a", "fingerprint": fp2, "state": "active", "dek_version": 1},
        ),
        ("ada", "admin", "list", "acme", None, "ok", {"provider": "google", "count": 1}),
        ("svc", "service", "list", None, None, "ok", {"provider": None, "count": 1}),
        (
            "ada",
            "admin",
            "revoke",
            "acme",
            "cred-a",
            "ok",
            {"provider": "google", "fingerprint": fp2, "already": False},
        ),
        ("ada", "admin", "revoke", "acme", "cred-a", "ok", {"provider": "google", "fingerprint": fp2, "already": True}),
        (
            "ada",
            "admin",
            "get",
            "acme",
            "cred-a",
            "error",
            {"error": "VaultError", "message": "credential cred-a was revoked; store new tokens with put"},
        ),
        ("svc", "service", "get", "globex", "cred-b", "denied", {"reason": reason}),
        ("aud", "auditor", "stats", "acme", None, "ok", {"credentials": 1}),
        ("aud", "auditor", "audit_read", None, None, "ok", {"count": 5, "tenant": "acme"}),
        (
            "aud",
            "auditor",
            "audit_verify",
            None,
            None,
            "ok",
            {"intact": True, "checked": report.checked, "first_bad_seq": None, "reason": None, "external": None},
        ),
    ]
    assert report.checked == events[-1].seq - 1


def test_a_token_appears_in_the_audit_log_only_as_its_hmac_fingerprint(vault_, raw):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    vault_.get(ADMIN, "acme", cid).wipe()
    fingerprint = vault_.list(ADMIN)[0].token_fingerprint
    dump = repr(_events(raw))
    for needle in (TOKEN, base64.b64encode(TOKEN.encode()).decode(), TOKEN.encode().hex()):
        assert needle not in dump
    put, get = [e for e in _events(raw) if e["op"] in ("put", "get")]
    assert _detail(put)["fingerprint"] == _detail(get)["fingerprint"] == fingerprint
    assert fingerprint.startswith("hmac:") and fingerprint != hmac_fingerprint(b"\0" * 32, TOKEN.encode())


def _detail(row: dict) -> dict:
    import json

    detail = row["detail"]
    return json.loads(detail) if isinstance(detail, str) else detail


def test_a_tampered_ciphertext_is_an_integrity_error_and_audited(vault_, raw):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    with raw.begin() as conn:
        ct = bytes(conn.execute(sa.text("select access_ct from credentials where id=:id"), {"id": cid}).scalar_one())
        flipped = ct[:20] + bytes([ct[20] ^ 1]) + ct[21:]
        conn.execute(sa.text("update credentials set access_ct=:ct where id=:id"), {"ct": flipped, "id": cid})
    with pytest.raises(IntegrityError) as err:
        vault_.get(ADMIN, "acme", cid)
    assert str(err.value) == "ciphertext failed authentication"
    last = _events(raw)[-1]
    assert (last["op"], last["outcome"], last["target"]) == ("get", "error", cid)
    assert _detail(last)["error"] == "IntegrityError"
    report = vault_.verify_audit(ADMIN)  # the chain is intact (no entry is bad); the row is not
    assert not report.ok and report.first_bad_seq is None and cid in (report.reason or ""), report.summary


def test_a_tampered_wrapped_dek_is_an_integrity_error_and_audited(vault_, raw, db_url):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    vault_.close()
    with raw.begin() as conn:
        wrapped = bytes(conn.execute(sa.text("select wrapped from data_keys")).scalar_one())
        conn.execute(sa.text("update data_keys set wrapped=:w"), {"w": wrapped[:-1] + bytes([wrapped[-1] ^ 1])})
    with Vault.open(db_url, StaticKeySource(K1)) as v, pytest.raises(IntegrityError):
        v.get(ADMIN, "acme", cid)
    assert (_events(raw)[-1]["op"], _events(raw)[-1]["outcome"]) == ("get", "error")


# --------------------------------------------------------------------------------- no unaudited operation


def _drop_audit_table(conn: sa.Connection) -> None:
    conn.execute(sa.text("drop table audit_events"))


def _read_only_trigger(conn: sa.Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(
            sa.text(
                "create trigger audit_read_only before insert on audit_events "
                "begin select raise(abort, 'audit log is read-only'); end"
            )
        )
    else:
        conn.execute(
            sa.text(
                "create function audit_read_only() returns trigger language plpgsql as "
                "$$ begin raise exception 'audit log is read-only'; end $$"
            )
        )
        conn.execute(
            sa.text(
                "create trigger audit_read_only before insert on audit_events "
                "for each row execute function audit_read_only()"
            )
        )


def _not_performed(op: str) -> str:
    """The whole message a caller gets when an operation's audit entry could not be written."""
    return (
        rf"^{op} was not performed: its audit entry could not be written \((OperationalError|ProgrammingError|"
        r"IntegrityError|InternalError)\); nothing was changed and nothing is returned$"
    )


@pytest.mark.parametrize("breakage", [_drop_audit_table, _read_only_trigger], ids=["dropped", "read-only-trigger"])
def test_when_the_audit_entry_cannot_be_written_the_operation_fails(vault_, raw, monkeypatch, breakage):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    with raw.begin() as conn:
        breakage(conn)
    made: list[Secret] = []

    class Spy(Secret):
        def __init__(self, value):
            super().__init__(value)
            made.append(self)

    monkeypatch.setattr(vault.store_credentials, "Secret", Spy)
    result = None
    with pytest.raises(VaultError, match=_not_performed("get")):
        result = vault_.get(ADMIN, "acme", cid)
    assert result is None
    assert made and all(s.wiped for s in made)  # the decrypted tokens were wiped, not handed out
    with pytest.raises(VaultError, match=_not_performed("put")):
        vault_.put(ADMIN, "acme", "google", "b", "another-token")
    with pytest.raises(VaultError, match=_not_performed("revoke")):
        vault_.revoke(ADMIN, "acme", cid)
    with raw.connect() as conn:
        rows = conn.execute(sa.text("select account, state from credentials")).all()
    assert [tuple(r) for r in rows] == [("a", "active")]  # neither the put nor the revoke happened


# ------------------------------------------------------------------------------------------- tampering


def _update(conn: sa.Connection, seq: int, fields: dict) -> None:
    conn.execute(sa.update(AuditEventRecord).where(AuditEventRecord.seq == seq).values(**fields))


def _content(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "seq"}


def edit_a_field(conn, rows):
    conn.execute(sa.text("update audit_events set outcome='ok' where seq=5"))  # a denial made to look allowed
    return 5, "mac mismatch"


def edit_the_actor(conn, rows):
    conn.execute(sa.text("update audit_events set actor='mallory' where seq=3"))
    return 3, "mac mismatch"


def edit_the_fingerprint_in_detail(conn, rows):
    # seq 2 is the put of credential "a": point its audit trail at another token, touching nothing but detail
    assert rows[1]["op"] == "put" and _detail(rows[1])["fingerprint"].startswith("hmac:")
    _update(conn, 2, {"detail": {**_detail(rows[1]), "fingerprint": "hmac:" + "0" * 16}})
    return 2, "mac mismatch"


def edit_the_provider_in_detail(conn, rows):
    assert _detail(rows[1])["provider"] == "google"
    _update(conn, 2, {"detail": {**_detail(rows[1]), "provider": "microsoft"}})
    return 2, "mac mismatch"


def delete_a_row(conn, rows):
    conn.execute(sa.text("delete from audit_events where seq=4"))
    return 4, "gap in seq: seq 4 missing"


def delete_the_first_rows(conn, rows):
    conn.execute(sa.text("delete from audit_events where seq <= 2"))
    return 1, "gap in seq: seq 1..2 missing"


def insert_a_forged_row_at_the_end(conn, rows):
    last = rows[-1]
    forged = {**last, "seq": last["seq"] + 1, "actor": "mallory", "prev_mac": last["mac"], "mac": "f" * 64}
    conn.execute(sa.insert(AuditEventRecord).values(**forged))
    return last["seq"] + 1, "mac mismatch"


def insert_a_forged_row_in_the_middle(conn, rows):
    conn.execute(sa.text("update audit_events set seq = seq + 1000 where seq >= 4"))
    conn.execute(sa.text("update audit_events set seq = seq - 999 where seq >= 1000"))
    forged = {**rows[3], "seq": 4, "op": "list", "prev_mac": rows[2]["mac"], "mac": "e" * 64}
    conn.execute(sa.insert(AuditEventRecord).values(**forged))
    return 4, "mac mismatch"


def replay_a_row_at_the_end(conn, rows):
    copy = {**rows[2], "seq": rows[-1]["seq"] + 1}
    conn.execute(sa.insert(AuditEventRecord).values(**copy))
    return rows[-1]["seq"] + 1, "written as seq 3"


def swap_two_rows(conn, rows):
    _update(conn, 3, _content(rows[5]))
    _update(conn, 6, _content(rows[2]))
    return 3, "reorder: the entry at seq 3 was written as seq 6"


def swap_adjacent_rows(conn, rows):
    _update(conn, 4, _content(rows[4]))
    _update(conn, 5, _content(rows[3]))
    return 4, "reorder: the entry at seq 4 was written as seq 5"


def truncate_the_tail(conn, rows):
    conn.execute(sa.text("delete from audit_events where seq > :n"), {"n": len(rows) - 2})
    return len(rows) - 1, f"truncated: the head anchor records seq {len(rows)}"


def truncate_and_forge_the_anchor(conn, rows):
    n = len(rows) - 2
    conn.execute(sa.text("delete from audit_events where seq > :n"), {"n": n})
    head = conn.execute(sa.text("select value from vault_meta where key='audit_head'")).scalar_one()
    head = head if isinstance(head, dict) else __import__("json").loads(head)
    conn.execute(
        sa.text("update vault_meta set value=:v where key='audit_head'"),
        {"v": canonical_json({**head, "seq": n, "mac": rows[n - 1]["mac"]}).decode()},
    )
    return n, "head anchor forged"


def test_an_entry_appended_after_a_forged_last_row_still_reaches_the_external_anchor(
    vault_, db_url, raw, clock, tmp_path, caplog
):
    """Someone inserts a row past the head; the vault appends after it rather than fail every operation. That
    entry's head still goes to the external anchor, whole (no warning that the anchor could not be written)."""
    import json
    import logging

    path = tmp_path / "anchor.jsonl"
    _busy_log(vault_)
    rows = _events(raw)
    with raw.begin() as conn:
        forged_seq, _ = insert_a_forged_row_at_the_end(conn, rows)
    with Vault.open(db_url, StaticKeySource(K1), clock, anchor=f"file:{path}") as v:
        with caplog.at_level(logging.WARNING):
            v.put(ADMIN, "acme", "google", "late", TOKEN + "-late")
        assert v.verify_audit(AUDITOR).first_bad_seq == forged_seq
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    (line,) = [json.loads(text) for text in path.read_text().splitlines()][:1]
    assert (line["seq"], len(line["tag"])) == (forged_seq + 1, 64)


TAMPERING = [
    edit_a_field,
    edit_the_actor,
    edit_the_fingerprint_in_detail,
    edit_the_provider_in_detail,
    delete_a_row,
    delete_the_first_rows,
    insert_a_forged_row_at_the_end,
    insert_a_forged_row_in_the_middle,
    replay_a_row_at_the_end,
    swap_two_rows,
    swap_adjacent_rows,
    truncate_the_tail,
    truncate_and_forge_the_anchor,
]


@pytest.mark.parametrize("tamper", TAMPERING, ids=[t.__name__.replace("_", "-") for t in TAMPERING])
def test_tampering_is_detected_at_the_first_broken_entry(vault_, raw, tamper):
    _busy_log(vault_)
    assert vault_.verify_audit(AUDITOR).ok
    rows = _events(raw)
    assert len(rows) == 10
    with raw.begin() as conn:
        seq, reason = tamper(conn, rows)
    assert _events(raw) != rows  # the edit landed
    report = vault_.verify_audit(AUDITOR)
    assert not report.ok
    assert report.first_bad_seq == seq, report.summary
    assert reason in (report.reason or ""), report.summary
    assert f"broken at seq {seq}" in report.summary
    recorded = vault_.audit_events(ADMIN, limit=1)[0]  # the read is recorded after it selects
    assert (recorded.op, recorded.detail["intact"], recorded.detail["first_bad_seq"]) == ("audit_verify", False, seq)


def test_the_chain_survives_kek_rotation_and_removal_of_the_old_key(vault_, db_url, clock):
    _busy_log(vault_)
    vault_.close()
    with Vault.open(db_url, StaticKeySource(K2, K1), clock) as v:
        v.rotate_kek(ADMIN)
        v.remove_kek(ADMIN, StaticKeySource(K1).load().primary.fingerprint)
    with Vault.open(db_url, StaticKeySource(K2), clock) as v:
        report = v.verify_audit(AUDITOR)
        assert report.ok and report.head_seq > 10, report.summary


def test_a_chain_with_a_different_key_does_not_verify(vault_, raw):
    _busy_log(vault_)
    with raw.connect() as conn:
        report = AuditChain(b"\x07" * 32).verify(conn)
    assert not report.ok and report.first_bad_seq == 1 and "mac mismatch" in (report.reason or "")


def test_genesis_and_canonical_json():
    assert GENESIS == "0" * 64
    assert canonical_json({"b": 1, "a": [1, "é"]}) == b'{"a":[1,"\\u00e9"],"b":1}'


def test_concurrent_writers_in_two_vaults_keep_one_unbroken_chain(vault_, db_url, clock):
    """Two Vault objects (two processes' worth of engines) and eight threads append to one chain."""
    from concurrent.futures import ThreadPoolExecutor

    other = Vault.open(db_url, StaticKeySource(K1), clock)
    vaults = [vault_, other]

    def work(n: int) -> None:
        v = vaults[n % 2]
        tenant = f"t{n % 3}"
        cid = v.put(ADMIN, tenant, "google", f"acct-{n}", f"token-{n}")
        assert v.get(ADMIN, tenant, cid).access_token.reveal() == f"token-{n}"
        with pytest.raises(AccessDenied):
            v.list(Actor("svc", Role.SERVICE, frozenset({"x"})), tenant)

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(24)))
        report = other.verify_audit(AUDITOR)
        assert report.ok, report.summary
        assert report.checked == 1 + 24 * 3
        assert len({c.tenant for c in vault_.list(ADMIN)}) == 3
    finally:
        other.close()
