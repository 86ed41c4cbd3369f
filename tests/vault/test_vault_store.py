"""The vault store on SQLite and PostgreSQL: round trips, no plaintext at rest, key checks, rotation, caching."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import vault.store
from vault import (
    AccessDenied,
    Actor,
    IntegrityError,
    KeyUnavailable,
    Role,
    Secret,
    StaticKeySource,
    TokenSet,
    Vault,
    VaultError,
)
from vault.crypto import kek_fingerprint
from vault.store_values import refresh_due
from vault.transport import check_transport

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
K3 = bytes(range(200, 232))
ADMIN = Actor("ada", Role.ADMIN)
SERVICE = Actor("billing-sync", Role.SERVICE, frozenset({"acme"}))
TOKEN = "ya29.a0AfB_byC-plaintext-access-token-0123456789"
REFRESH = "1//0gRefresh-plaintext-token-abcdefghijklmnop"


def raw(url: str) -> sa.Engine:
    return sa.create_engine(url)


class CountingSource:
    """A key source that counts how often the vault asks it for keys."""

    def __init__(self, *keys: bytes) -> None:
        self.inner = StaticKeySource(*keys)
        self.name = "counting"
        self.loads = 0

    def load(self):
        self.loads += 1
        return self.inner.load()


# ------------------------------------------------------------------------------------------- round trip


def test_put_get_round_trip(vault_, clock):
    expires = clock.now() + timedelta(hours=1)
    cid = vault_.put(
        ADMIN, "acme", "google", "ops@acme.test", TOKEN, REFRESH, expires_at=expires, scopes=["openid", "email"]
    )
    with vault_.get(ADMIN, "acme", cid) as tokens:
        assert isinstance(tokens, TokenSet)
        assert isinstance(tokens.access_token, Secret) and isinstance(tokens.refresh_token, Secret)
        assert tokens.access_token.reveal() == TOKEN
        assert tokens.refresh_token.reveal() == REFRESH
        assert (tokens.tenant, tokens.provider, tokens.account, tokens.credential_id) == (
            "acme",
            "google",
            "ops@acme.test",
            cid,
        )
        assert tokens.expires_at == expires
        assert tokens.scopes == ["openid", "email"]
        assert TOKEN not in repr(tokens) and REFRESH not in repr(tokens)
    assert tokens.access_token.wiped


def test_put_accepts_a_secret_and_leaves_it_to_the_caller(vault_):
    secret = Secret(TOKEN)
    cid = vault_.put(ADMIN, "acme", "google", "a", secret)
    assert secret.reveal() == TOKEN  # not wiped: the caller owns it
    assert vault_.get(ADMIN, "acme", cid).access_token == Secret(TOKEN)


def test_put_upserts_by_tenant_provider_account_and_keeps_the_refresh_token(vault_):
    cid = vault_.put(ADMIN, "acme", "google", "a", "old-access", "the-refresh")
    again = vault_.put(ADMIN, "acme", "google", "a", "new-access")
    assert again == cid
    tokens = vault_.get(ADMIN, "acme", cid)
    assert tokens.access_token.reveal() == "new-access"
    assert tokens.refresh_token is not None and tokens.refresh_token.reveal() == "the-refresh"
    assert len(vault_.list(ADMIN, "acme")) == 1
    other = vault_.put(ADMIN, "acme", "microsoft", "a", "ms-access")
    assert other != cid


def test_put_with_a_chosen_id_and_clashes(vault_):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN, credential_id="cred-1")
    assert cid == "cred-1"
    with pytest.raises(VaultError, match="already stored as credential cred-1"):
        vault_.put(ADMIN, "acme", "google", "a", TOKEN, credential_id="cred-2")
    with pytest.raises(VaultError, match="already names another credential"):
        vault_.put(ADMIN, "acme", "google", "b", TOKEN, credential_id="cred-1")


def test_get_is_bound_to_the_tenant_named(vault_):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    with pytest.raises(VaultError, match="no credential"):
        vault_.get(ADMIN, "globex", cid)


def test_list_is_metadata_only(vault_, clock):
    expires = clock.now() + timedelta(minutes=30)
    vault_.put(ADMIN, "acme", "google", "a", TOKEN, REFRESH, expires_at=expires, scopes=["s1"])
    vault_.put(ADMIN, "acme", "ghl", "loc-1", TOKEN + "2")
    vault_.put(ADMIN, "globex", "google", "b", TOKEN + "3")
    everything = vault_.list(ADMIN)
    assert [(c.tenant, c.provider, c.account) for c in everything] == [
        ("acme", "ghl", "loc-1"),
        ("acme", "google", "a"),
        ("globex", "google", "b"),
    ]
    assert [c.account for c in vault_.list(ADMIN, "acme", "google")] == ["a"]
    assert [c.tenant for c in vault_.list(SERVICE)] == ["acme", "acme"]  # scoped actor: own tenants only
    info = vault_.list(ADMIN, "acme", "google")[0]
    assert info.has_refresh_token and info.scopes == ("s1",) and info.expires_at == expires
    assert info.token_fingerprint.startswith("hmac:")
    assert info.refresh_due_at == expires - timedelta(minutes=6)  # 80 % of a 30-minute lifetime
    for c in everything:
        for value in vars(c).values():
            assert not isinstance(value, bytes | bytearray | Secret)
        assert TOKEN not in repr(c)


def test_revoke_refuses_get_erases_ciphertexts_and_put_reactivates(vault_, db_url):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN, REFRESH)
    vault_.revoke(ADMIN, "acme", cid)
    vault_.revoke(ADMIN, "acme", cid)  # idempotent
    with pytest.raises(VaultError, match="revoked"):
        vault_.get(ADMIN, "acme", cid)
    with raw(db_url).connect() as conn:
        row = conn.execute(
            sa.text("select access_ct, refresh_ct, state from credentials where id=:id"), {"id": cid}
        ).one()
    assert bytes(row.access_ct) == b"" and row.refresh_ct is None and row.state == "revoked"
    assert vault_.put(ADMIN, "acme", "google", "a", "fresh") == cid
    assert vault_.get(ADMIN, "acme", cid).access_token.reveal() == "fresh"
    assert vault_.list(ADMIN, "acme")[0].state == "active"


def test_expiry_and_refresh_due_follow_the_injected_clock(vault_, clock):
    vault_.put(ADMIN, "acme", "google", "a", TOKEN, REFRESH, expires_at=clock.now() + timedelta(hours=1))
    vault_.put(ADMIN, "acme", "google", "b", TOKEN, expires_at=clock.now() + timedelta(days=3))
    info = {c.account: c for c in vault_.list(ADMIN)}
    assert info["a"].refresh_due_at == clock.now() + timedelta(minutes=50)
    assert vault_.stats(ADMIN).expiring_soon == 1
    clock.advance(timedelta(hours=2))
    stats = vault_.stats(ADMIN)
    assert (stats.expired, stats.expiring_soon) == (1, 0)
    clock.advance(timedelta(days=2))
    assert vault_.stats(ADMIN).expiring_soon == 1


def test_refresh_due():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert refresh_due(now, None) is None
    assert refresh_due(now, now + timedelta(hours=1)) == now + timedelta(minutes=50)
    assert refresh_due(now, now + timedelta(minutes=5)) == now + timedelta(minutes=4)
    assert refresh_due(now, now - timedelta(minutes=1)) == now - timedelta(minutes=1)


def test_stats_counts_metadata(vault_, db_url):
    a = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    vault_.put(ADMIN, "acme", "google", "b", TOKEN)
    vault_.put(ADMIN, "globex", "ghl", "c", TOKEN)
    vault_.revoke(ADMIN, "acme", a)
    with raw(db_url).begin() as conn:
        conn.execute(sa.text("update credentials set failures=2, state='needs_reauth' where account='c'"))
    stats = vault_.stats(ADMIN)
    assert (stats.tenants, stats.credentials) == (2, 3)
    assert stats.by_state == {"active": 1, "revoked": 1, "needs_reauth": 1}
    assert stats.by_provider == {"google": 2, "ghl": 1}
    assert stats.by_provider_state["google"] == {"active": 1, "revoked": 1}
    assert stats.refresh_failing == 1
    assert stats.primary_kek == kek_fingerprint(K1) and stats.pending_rewrap == {}
    assert vault_.stats(ADMIN, "globex").credentials == 1


# --------------------------------------------------------------------------------------- no plaintext


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _needles(token: str) -> dict[str, bytes]:
    raw_ = token.encode()
    return {
        "plaintext": raw_,
        "base64": base64.b64encode(raw_),
        "base64 unpadded": base64.b64encode(raw_).rstrip(b"="),
        "urlsafe base64": base64.urlsafe_b64encode(raw_).rstrip(b"="),
        "hex": raw_.hex().encode(),
        "HEX": raw_.hex().upper().encode(),
    }


def scan_database(url: str, token: str) -> list[str]:
    """Every column of every row of every table, searched for the token in any usual encoding."""
    engine = raw(url)
    hits, seen = [], 0
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        for table in tables:
            for row in conn.execute(sa.text(f'select * from "{table}"')):
                for column, value in row._mapping.items():
                    seen += 1
                    blob = _as_bytes(value)
                    hits += [f"{table}.{column}: {how}" for how, needle in _needles(token).items() if needle in blob]
    engine.dispose()
    assert {"credentials", "data_keys", "audit_events", "vault_meta", "tenants"} <= set(tables)
    assert seen > 0
    return hits


def test_no_plaintext_anywhere_in_the_database(vault_, db_url):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN, REFRESH, scopes=["x"])
    vault_.put(SERVICE, "acme", "microsoft", "b", TOKEN + "-ms")
    vault_.get(ADMIN, "acme", cid).wipe()
    vault_.list(ADMIN)
    vault_.rotate_dek(ADMIN, "acme")
    vault_.close()
    with Vault.open(db_url, StaticKeySource(K2, K1)) as rotated:
        rotated.rotate_kek(ADMIN)
        assert rotated.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN
    for token in (TOKEN, REFRESH, TOKEN + "-ms", base64.b64encode(K1).decode(), base64.b64encode(K2).decode()):
        assert scan_database(db_url, token) == []
    assert scan_database(db_url, "ops-account-marker") == []
    # the scan does see what is stored in clear (a positive control)
    with Vault.open(db_url, StaticKeySource(K2, K1)) as v:
        v.put(ADMIN, "acme", "google", "ops-account-marker", "x")
    assert scan_database(db_url, "ops-account-marker")


def test_a_ciphertext_moved_to_another_row_fails_to_open(vault_, db_url):
    a = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    b = vault_.put(ADMIN, "acme", "google", "b", "other-token")
    c = vault_.put(ADMIN, "globex", "google", "c", "third-token")
    with raw(db_url).begin() as conn:
        ct = conn.execute(sa.text("select access_ct from credentials where id=:id"), {"id": a}).scalar_one()
        conn.execute(sa.text("update credentials set access_ct=:ct where id in (:b, :c)"), {"ct": ct, "b": b, "c": c})
    for tenant, cid in (("acme", b), ("globex", c)):
        with pytest.raises(IntegrityError) as err:
            vault_.get(ADMIN, tenant, cid)
        assert str(err.value) == "ciphertext failed authentication"
    assert vault_.get(ADMIN, "acme", a).access_token.reveal() == TOKEN


# ---------------------------------------------------------------------------------------- opening, keys


def test_a_refused_read_is_audited_with_its_tenant_and_credential(vault_):
    cid = vault_.put(ADMIN, "acme", "google", "gone", "tok-gone")
    vault_.revoke(ADMIN, "acme", cid)
    with pytest.raises(VaultError):
        vault_.get(ADMIN, "acme", cid)
    entry = vault_.audit_events(ADMIN, limit=1)[0]
    assert (entry.op, entry.outcome, entry.tenant, entry.target, entry.detail["error"]) == (
        "get",
        "error",
        "acme",
        cid,
        "VaultError",
    )


def test_open_refuses_a_database_without_a_vault(db_url):
    with pytest.raises(VaultError, match="no vault yet"):
        Vault.open(db_url, StaticKeySource(K1))


def test_open_refuses_a_key_the_vault_does_not_know(vault_, db_url):
    vault_.close()
    with pytest.raises(KeyUnavailable) as err:
        Vault.open(db_url, StaticKeySource(K2, K3))
    message = str(err.value)
    assert f"match none this vault knows (known: {kek_fingerprint(K1)}; " in message
    assert f" offers: {kek_fingerprint(K2)}, {kek_fingerprint(K3)}); wrong TOKEN_VAULT_ENCRYPTION_KEY?" in message
    assert base64.b64encode(K2).decode() not in message


def test_init_twice_is_open(vault_, db_url):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    with Vault.init(db_url, StaticKeySource(K1)) as again:
        assert again.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN


def test_a_new_primary_is_accepted_next_to_a_known_key_and_recorded(vault_, db_url):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    vault_.close()
    with Vault.open(db_url, StaticKeySource(K2, K1)) as v:
        assert v.stats(ADMIN).pending_rewrap == {kek_fingerprint(K1): 1}
        assert v.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN  # DEK still under K1
        v.put(ADMIN, "globex", "google", "b", TOKEN)  # a new tenant's DEK goes under K2
        events = v.audit_events(ADMIN, limit=1000)
        assert [e.target for e in events if e.op == "kek_added"] == [kek_fingerprint(K2)]
    # K2 is known now, so K3 next to it is a rotation waiting to happen; but K1 still wraps keys
    with pytest.raises(KeyUnavailable, match=f"audit key is wrapped under {kek_fingerprint(K1)}"):
        Vault.open(db_url, StaticKeySource(K3, K2))
    with Vault.open(db_url, StaticKeySource(K3, K2, K1)) as v:
        assert v.stats(ADMIN).primary_kek == kek_fingerprint(K3)
    with pytest.raises(KeyUnavailable):
        Vault.open(db_url, StaticKeySource(bytes(32)))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://vault@db.example.com/vault",
        "postgresql+psycopg://vault@db.example.com/vault?sslmode=prefer",
        "postgresql+psycopg://vault@db.example.com/vault?sslmode=disable",
        "postgresql+psycopg://vault@10.0.0.5:5432/vault?sslmode=allow",
        "postgresql+psycopg://vault@/vault?host=db.internal",
        "postgresql://vault:pw@[2001:db8::1]/vault",
    ],
    ids=["no-sslmode", "prefer", "disable", "private-ip-allow", "host-in-query", "ipv6"],
)
def test_non_loopback_postgresql_without_tls_is_refused_before_connecting(url):
    with pytest.raises(VaultError, match=r"sslmode=require") as err:
        Vault.open(url, StaticKeySource(K1))
    assert "pw" not in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://vault@db.example.com/vault?sslmode=require",
        "postgresql+psycopg://vault@db.example.com/vault?sslmode=verify-full",
        "postgresql+psycopg://vault@10.0.0.5/vault?sslmode=verify-ca",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "postgresql+psycopg://postgres@localhost/test",
        "postgresql+psycopg://postgres@[::1]/test",
        "postgresql+psycopg://postgres@/test?host=/var/run/postgresql",
        "sqlite:///vault.db",
    ],
    ids=["require", "verify-full", "verify-ca", "ipv4-loopback", "localhost", "ipv6-loopback", "unix-socket", "sqlite"],
)
def test_tls_or_loopback_urls_pass_the_transport_check(url):
    check_transport(url)


def test_an_unreachable_database_is_a_clear_vault_error():
    with pytest.raises(VaultError, match="could not open the vault database") as err:
        Vault.open("postgresql+psycopg://vault:hunter2@127.0.0.1:1/vault", StaticKeySource(K1))
    assert "hunter2" not in str(err.value)


def test_the_key_source_is_loaded_once_per_ttl_not_per_operation(db_url, clock, monkeypatch):
    source = CountingSource(K1)
    unwraps = []
    real_unwrap = vault.store.crypto.unwrap_key
    monkeypatch.setattr(vault.store.crypto, "unwrap_key", lambda *a, **k: unwraps.append(1) or real_unwrap(*a, **k))
    with Vault.init(db_url, source, clock, dek_cache_ttl=60) as v:
        assert source.loads == 1
        ids = [v.put(ADMIN, t, "google", "a", f"{TOKEN}-{t}") for t in ("acme", "globex", "initech")]
        for _ in range(5):
            for tenant, cid in zip(("acme", "globex", "initech"), ids, strict=True):
                v.get(ADMIN, tenant, cid).wipe()
        v.list(ADMIN)
        assert source.loads == 1
        unwraps_within_ttl = len(unwraps)
        assert unwraps_within_ttl <= 3 + 1  # each tenant's DEK once, the audit key at most once
        clock.advance(timedelta(seconds=61))
        assert v.get(ADMIN, "acme", ids[0]).access_token.reveal() == f"{TOKEN}-acme"
        assert source.loads == 2
        for _ in range(5):
            v.get(ADMIN, "acme", ids[0]).wipe()
        assert source.loads == 2
        assert len(unwraps) == unwraps_within_ttl + 2  # acme's DEK and the audit key, once each


def test_a_failing_key_source_is_key_unavailable_and_says_nothing_more(db_url):
    class Broken:
        name = "broken"

        def load(self):
            raise RuntimeError("secret-material-in-message")

    with pytest.raises(KeyUnavailable) as err:
        Vault.init(db_url, Broken())
    assert "secret-material" not in str(err.value) and err.value.__cause__ is None


def test_a_dek_under_a_kek_the_source_no_longer_offers_is_key_unavailable(vault_, db_url):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    vault_.close()
    with Vault.open(db_url, StaticKeySource(K2, K1)) as v:
        v.put(ADMIN, "globex", "google", "b", TOKEN)
    with Vault.open(db_url, StaticKeySource(K2)) as v, pytest.raises(KeyUnavailable, match=kek_fingerprint(K1)):
        v.get(ADMIN, "acme", cid)


# ------------------------------------------------------------------------------------------- rotation


def _fill(v: Vault, tenants: int, per_tenant: int) -> dict[tuple[str, str], str]:
    ids = {}
    for t in range(tenants):
        for n in range(per_tenant):
            ids[(f"t{t}", f"acct{n}")] = v.put(ADMIN, f"t{t}", "google", f"acct{n}", f"tok-{t}-{n}", f"ref-{t}-{n}")
    return ids


def _assert_all_open(v: Vault, ids: dict[tuple[str, str], str]) -> None:
    for (tenant, account), cid in ids.items():
        with v.get(ADMIN, tenant, cid) as tokens:
            t, n = tenant[1:], account[4:]
            assert tokens.access_token.reveal() == f"tok-{t}-{n}"
            assert tokens.refresh_token is not None and tokens.refresh_token.reveal() == f"ref-{t}-{n}"


def _keks(url: str) -> dict[str, int]:
    with raw(url).connect() as conn:
        return dict(
            conn.execute(
                sa.text("select kek_fingerprint, count(*) from data_keys where state='active' group by kek_fingerprint")
            ).all()
        )


def test_rotate_kek_rewraps_every_dek_and_the_audit_key_then_the_old_key_can_go(vault_, db_url, clock):
    ids = _fill(vault_, tenants=4, per_tenant=2)
    vault_.close()
    v = Vault.open(db_url, StaticKeySource(K2, K1), clock)
    with pytest.raises(VaultError, match=r"still wraps 4 data key\(s\) and the audit key"):
        v.remove_kek(ADMIN, kek_fingerprint(K1))
    seen = []
    report = v.rotate_kek(ADMIN, progress=lambda done, total: seen.append((done, total)), batch=3)
    assert (report.kind, report.target, report.total, report.rewritten, report.remaining) == (
        "kek",
        kek_fingerprint(K2),
        5,
        5,
        0,
    )
    assert report.complete and seen[-1] == (5, 5)
    assert _keks(db_url) == {kek_fingerprint(K2): 4}
    assert v.rotate_kek(ADMIN).rewritten == 0  # idempotent
    with pytest.raises(VaultError, match="is the primary KEK"):
        v.remove_kek(ADMIN, kek_fingerprint(K2))
    v.remove_kek(ADMIN, kek_fingerprint(K1))
    with pytest.raises(VaultError, match="not a KEK this vault knows"):
        v.remove_kek(ADMIN, kek_fingerprint(K1))
    v.close()
    with Vault.open(db_url, StaticKeySource(K2), clock) as only_new:
        _assert_all_open(only_new, ids)
        assert only_new.verify_audit(ADMIN).ok
    with pytest.raises(KeyUnavailable):
        Vault.open(db_url, StaticKeySource(K1))


class Crash(Exception):
    pass


def test_rotate_kek_resumes_after_a_crash_after_any_row(vault_, db_url, clock):
    ids = _fill(vault_, tenants=5, per_tenant=1)
    vault_.close()
    v = Vault.open(db_url, StaticKeySource(K2, K1), clock)
    total = 6  # five DEKs and the audit key

    def crash(done, total_):
        raise Crash

    crashes = 0
    while True:
        try:
            report = v.rotate_kek(ADMIN, progress=crash, batch=1)
            break
        except Crash:
            crashes += 1
            pending = sum(n for fp, n in _keks(db_url).items() if fp != kek_fingerprint(K2))
            assert pending == total - crashes  # the audit key first, then one more DEK each run
            _assert_all_open(v, ids)  # a half-rotated vault is fully usable
    assert crashes == total and report.complete and report.rewritten == 0
    assert _keks(db_url) == {kek_fingerprint(K2): 5}
    errors = [e for e in v.audit_events(ADMIN, limit=1000) if e.op == "rotate_kek" and e.outcome == "error"]
    assert len(errors) == total
    v.close()


def test_rotate_kek_resumes_after_progress_raises_after_n_rows(vault_, db_url, clock):
    ids = _fill(vault_, tenants=7, per_tenant=1)
    vault_.close()
    v = Vault.open(db_url, StaticKeySource(K2, K1), clock)

    def stop_after_three(done, total):
        if done >= 3:
            raise Crash

    with pytest.raises(Crash):
        v.rotate_kek(ADMIN, progress=stop_after_three, batch=2)
    assert v.stats(ADMIN).rotations_in_progress == ("kek",)
    report = v.rotate_kek(ADMIN, batch=2)
    assert (report.total, report.rewritten, report.remaining) == (8 - 3, 5, 0)
    assert v.stats(ADMIN).rotations_in_progress == ()
    _assert_all_open(v, ids)
    v.close()


def test_rotate_kek_crash_inside_a_batch_rolls_the_batch_back(vault_, db_url, clock, monkeypatch):
    ids = _fill(vault_, tenants=6, per_tenant=1)
    vault_.close()
    v = Vault.open(db_url, StaticKeySource(K2, K1), clock)
    real_wrap = vault.store.crypto.wrap_with
    calls = []

    def flaky_wrap(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # the audit key, then the third row of the first batch of DEKs
            raise Crash
        return real_wrap(*args, **kwargs)

    monkeypatch.setattr(vault.store.crypto, "wrap_with", flaky_wrap)
    with pytest.raises(Crash):
        v.rotate_kek(ADMIN, batch=4)
    assert _keks(db_url)[kek_fingerprint(K1)] == 6  # the batch rolled back whole
    monkeypatch.setattr(vault.store.crypto, "wrap_with", real_wrap)
    assert v.rotate_kek(ADMIN, batch=4).rewritten == 6
    _assert_all_open(v, ids)
    v.close()


def test_rotate_dek_reseals_one_tenant_and_retires_the_old_dek(vault_, db_url):
    ids = _fill(vault_, tenants=2, per_tenant=5)
    seen = []
    report = vault_.rotate_dek(ADMIN, "t0", progress=lambda d, t: seen.append((d, t)), batch=2)
    assert (report.kind, report.target, report.total, report.rewritten, report.remaining) == ("dek", "t0@v2", 5, 5, 0)
    assert report.retired == ("t0@v1",) and seen == [(2, 5), (4, 5), (5, 5)]
    with raw(db_url).connect() as conn:
        keys = conn.execute(
            sa.text("select tenant, version, state, length(wrapped) as n from data_keys order by tenant, version")
        ).all()
        versions = dict(conn.execute(sa.text("select tenant, max(dek_version) from credentials group by tenant")).all())
    assert [(k.tenant, k.version, k.state) for k in keys] == [
        ("t0", 1, "retired"),
        ("t0", 2, "active"),
        ("t1", 1, "active"),
    ]
    assert keys[0].n == 0  # a retired DEK's wrapped bytes are erased
    assert versions == {"t0": 2, "t1": 1}
    _assert_all_open(vault_, ids)
    new = vault_.put(ADMIN, "t0", "google", "late", "tok-late")
    assert vault_.list(ADMIN, "t0")[-1].dek_version == 2 and vault_.get(ADMIN, "t0", new).access_token.reveal()


def test_the_process_that_created_the_vault_fingerprints_tokens_as_every_later_process_does(db_url, clock):
    """The creating process keeps the audit key's subkeys it just made; a token it stores must get the fingerprint
    any other process opening the vault gives the same token, or the audit log and the token list could not be
    matched across processes."""
    with Vault.init(db_url, StaticKeySource(K1), clock) as first:
        first.put(ADMIN, "acme", "google", "a", "ya29.same-token")
        with Vault.open(db_url, StaticKeySource(K1), clock) as later:
            later.put(ADMIN, "acme", "google", "b", "ya29.same-token")
            made = {i.account: i.token_fingerprint for i in later.list(ADMIN, "acme")}
    assert made["a"] == made["b"] and made["a"].startswith("hmac:")


def test_a_retired_data_key_leaves_the_memory_of_the_process_that_retired_it_wiped(vault_, db_url, clock):
    """Reading t0's and t1's tokens caches their v1 data keys unwrapped. Rotating t0 retires its v1: the cached
    copy is dropped and its bytes zeroed (a memory dump taken afterwards holds no retired key), t1's stays. A
    process that never cached the retired key rotates just the same."""
    ids = _fill(vault_, tenants=2, per_tenant=2)
    _assert_all_open(vault_, ids)
    held = {key: dek for key, (dek, _) in vault_._deks.items()}  # the cache's own buffers, as a dump would see
    assert set(held) == {("t0", 1), ("t1", 1)} and all(any(dek) for dek in held.values())
    assert vault_.rotate_dek(ADMIN, "t0").retired == ("t0@v1",)
    assert ("t0", 1) not in vault_._deks and held[("t0", 1)] == bytearray(32)
    assert vault_._deks[("t1", 1)][0] is held[("t1", 1)] and any(held[("t1", 1)])
    with Vault.open(db_url, StaticKeySource(K1), clock) as other:  # t1's v1 never read here: not in its cache
        assert other.rotate_dek(ADMIN, "t1").retired == ("t1@v1",)
    _assert_all_open(vault_, ids)


def test_rotate_dek_resumes_to_the_same_version_after_a_crash(vault_, db_url):
    ids = _fill(vault_, tenants=1, per_tenant=7)

    def stop_after_first_batch(done, total):
        raise Crash

    with pytest.raises(Crash):
        vault_.rotate_dek(ADMIN, "t0", progress=stop_after_first_batch, batch=3)
    assert vault_.stats(ADMIN).rotations_in_progress == ("dek:t0",)
    _assert_all_open(vault_, ids)  # mixed versions still open
    assert sorted({c.dek_version for c in vault_.list(ADMIN)}) == [1, 2]
    report = vault_.rotate_dek(ADMIN, "t0", batch=3)
    assert (report.target, report.total, report.rewritten, report.retired) == ("t0@v2", 4, 4, ("t0@v1",))
    assert vault_.stats(ADMIN).rotations_in_progress == ()
    _assert_all_open(vault_, ids)
    # a second rotation is a new version
    assert vault_.rotate_dek(ADMIN, "t0").target == "t0@v3"
    _assert_all_open(vault_, ids)


def test_a_put_keeping_the_refresh_token_of_a_row_not_yet_resealed_moves_it_to_the_new_dek(vault_):
    """Mid-rotation, a credential still sealed under v1 gets a new access token and no refresh token (a provider
    that does not rotate it): the kept refresh token is resealed under v2 with the access token, still opens,
    and the rest of the rotation retires v1 without it."""
    ids = _fill(vault_, tenants=1, per_tenant=4)

    def stop_after_first_batch(done, total):
        raise Crash

    with pytest.raises(Crash):
        vault_.rotate_dek(ADMIN, "t0", progress=stop_after_first_batch, batch=2)
    behind = [i for i in vault_.list(ADMIN, "t0") if i.dek_version == 1]
    assert len(behind) == 2
    kept = behind[0]
    assert vault_.put(ADMIN, "t0", "google", kept.account, "tok-new") == kept.id
    assert {i.id: i.dek_version for i in vault_.list(ADMIN, "t0")}[kept.id] == 2
    with vault_.get(ADMIN, "t0", kept.id) as tokens:
        assert (tokens.access_token.reveal(), tokens.refresh_token.reveal()) == ("tok-new", f"ref-0-{kept.account[4:]}")
    report = vault_.rotate_dek(ADMIN, "t0")
    assert (report.total, report.retired) == (1, ("t0@v1",))
    with vault_.get(ADMIN, "t0", kept.id) as tokens:
        assert tokens.refresh_token.reveal() == f"ref-0-{kept.account[4:]}"
    _assert_all_open(vault_, {k: v for k, v in ids.items() if v != kept.id})


def test_a_put_sealing_under_the_old_dek_holds_off_its_retirement(pg_url, clock):
    """Rotation race across two processes (two Vault objects): the writer has read the tenant's active DEK
    version (v1, cached) and is still sealing when another process rotates the tenant to v2 and retires v1.
    The rotation must wait for that writer and re-seal what it stored: a credential committed under a DEK
    whose wrapped bytes were just erased could never be read again."""
    import threading
    import time

    rotator = Vault.init(pg_url, StaticKeySource(K1), clock)
    writer = Vault.open(pg_url, StaticKeySource(K1), clock)
    first = writer.put(ADMIN, "acme", "google", "a", TOKEN)
    writer.get(ADMIN, "acme", first).wipe()  # a long-lived process: acme's v1 is in its DEK cache
    paused, resume = threading.Event(), threading.Event()
    put_thread: list[threading.Thread] = []

    def pause_after_reading_the_active_version(conn, cursor, statement, params, context, executemany):
        if threading.current_thread() in put_thread and "active_dek_version" in statement and "UPDATE" not in statement:
            paused.set()
            resume.wait(30)

    sa.event.listen(writer.engine, "after_cursor_execute", pause_after_reading_the_active_version)
    outcome: dict[str, object] = {}

    def run(name, fn):
        try:
            outcome[name] = fn()
        except BaseException as exc:  # reported by the asserts below
            outcome[name] = exc

    putter = threading.Thread(target=run, args=("put", lambda: writer.put(ADMIN, "acme", "google", "b", REFRESH)))
    put_thread.append(putter)
    putter.start()
    assert paused.wait(30)
    rotation = threading.Thread(target=run, args=("rotate", lambda: rotator.rotate_dek(ADMIN, "acme")))
    rotation.start()
    watcher = sa.create_engine(pg_url)
    deadline = time.monotonic() + 30
    with watcher.connect() as conn:  # until the rotation finished, or waits for the writer's lock on the tenant
        while rotation.is_alive() and time.monotonic() < deadline:
            waiting = conn.execute(
                sa.text(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                    "and query like '%FROM tenants%FOR UPDATE%'"
                )
            ).scalar_one()
            if waiting:
                break
            time.sleep(0.005)
    watcher.dispose()
    resume.set()
    putter.join(30)
    rotation.join(30)
    sa.event.remove(writer.engine, "after_cursor_execute", pause_after_reading_the_active_version)
    try:
        second = outcome["put"]
        report = outcome["rotate"]
        assert isinstance(second, str), second
        assert not isinstance(report, BaseException), report
        assert report.target == "acme@v2" and report.retired == ("acme@v1",) and report.remaining == 0
        with raw(pg_url).connect() as conn:
            orphans = (
                conn.execute(
                    sa.text(
                        "select c.id from credentials c left join data_keys k on k.tenant = c.tenant "
                        "and k.version = c.dek_version where c.state <> 'revoked' "
                        "and (k.state is null or k.state <> 'active')"
                    )
                )
                .scalars()
                .all()
            )
        assert orphans == []  # no live credential points at a retired (erased) DEK
        for v in (rotator, writer):
            assert v.get(ADMIN, "acme", first).access_token.reveal() == TOKEN
            assert v.get(ADMIN, "acme", second).access_token.reveal() == REFRESH
        assert {c.dek_version for c in rotator.list(ADMIN)} == {2}
    finally:
        writer.close()
        rotator.close()


def test_rotate_dek_of_an_unknown_tenant_is_refused(vault_):
    with pytest.raises(VaultError, match="no tenant 'nobody'"):
        vault_.rotate_dek(ADMIN, "nobody")


def test_a_denied_call_raises_access_denied(vault_):
    with pytest.raises(AccessDenied):
        vault_.put(SERVICE, "globex", "google", "a", TOKEN)


def test_vault_does_not_import_checks():
    code = (
        "import sys, vault, vault.store, vault.audit, vault.rbac; "
        "sys.exit(any(m == 'checks' or m.startswith('checks.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _json(value):
    return value if isinstance(value, dict) else json.loads(value)


def _batch_seqs(v: Vault, op: str) -> list[int]:
    """The seq of each ``batch`` audit entry of ``op``: the ``audit_seq`` the rows it rewrote must carry."""
    return sorted(e.seq for e in v.audit_events(ADMIN, limit=1000) if e.op == op and e.detail.get("phase") == "batch")


def _row_seqs(url: str, table: str, where: str) -> list[int]:
    with raw(url).connect() as conn:
        return sorted({n for (n,) in conn.execute(sa.text(f"select audit_seq from {table} where {where}"))})


def _rotation_trail(v: Vault, op: str) -> list[tuple[str, str | None, str, dict]]:
    """(actor, target, outcome, detail) of every ``op`` audit entry, oldest first."""
    events = sorted((e for e in v.audit_events(ADMIN, limit=1000) if e.op == op), key=lambda e: e.seq)
    return [(e.actor, e.target, e.outcome, e.detail) for e in events]


def test_rotate_dek_reports_records_and_audits_each_phase(vault_, db_url, clock):
    """What a security reviewer reads after a DEK rotation: the checkpoint while it runs, one audit entry per
    phase with its counts, the report's times, each resealed row's updated_at; a revoked credential under the
    old DEK does not keep that DEK alive."""
    ids = _fill(vault_, tenants=1, per_tenant=3)
    gone = vault_.put(ADMIN, "t0", "google", "revoked-one", "tok-r", "ref-r")
    vault_.revoke(ADMIN, "t0", gone)
    start = clock.now()
    checkpoints = []

    def progress(done, total):
        with raw(db_url).connect() as conn:
            checkpoints.append(
                conn.execute(sa.text("select value from vault_meta where key = 'dek_rotation:t0'")).scalar_one()
            )
        clock.advance(timedelta(minutes=1))

    report = vault_.rotate_dek(ADMIN, "t0", progress=progress, batch=2)
    assert report == vault.store.RotationReport(
        "dek", "t0@v2", 3, 3, 0, ("t0@v1",), start, start + timedelta(minutes=2)
    )
    assert _json(checkpoints[0]) == {"to": 2, "from": 1, "started_at": start.isoformat()}
    assert _rotation_trail(vault_, "rotate_dek") == [
        ("ada", "t0@v2", "ok", {"phase": "start", "to": 2, "resumed": False, "pending": 3}),
        ("ada", "t0@v2", "ok", {"phase": "batch", "resealed": 2}),
        ("ada", "t0@v2", "ok", {"phase": "batch", "resealed": 1}),
        ("ada", "t0@v2", "ok", {"phase": "done", "resealed": 3, "remaining": 0, "retired": ["t0@v1"]}),
    ]
    updated = {c.id: c.updated_at for c in vault_.list(ADMIN, "t0")}
    assert sorted(updated[cid] for cid in ids.values()) == [start, start, start + timedelta(minutes=1)]  # per batch
    with raw(db_url).connect() as conn:  # stored as every other write stores a time (on SQLite: the same text)
        stored = conn.execute(
            sa.text("select updated_at, created_at from credentials where tenant = 't0' and state = 'active'")
        ).all()
    assert {(type(u), len(str(u))) for u, _ in stored} == {(type(c), len(str(c))) for _, c in stored}
    assert _row_seqs(db_url, "credentials", "state = 'active'") == _batch_seqs(vault_, "rotate_dek")
    assert vault_.verify_audit(ADMIN).ok
    _assert_all_open(vault_, ids)


def test_rotate_dek_resumed_says_so_and_a_batch_below_one_is_refused(vault_):
    _fill(vault_, tenants=1, per_tenant=3)

    def stop(done, total):
        raise Crash

    with pytest.raises(Crash):
        vault_.rotate_dek(ADMIN, "t0", progress=stop, batch=2)
    vault_.rotate_dek(ADMIN, "t0")
    starts = [d for _, _, _, d in _rotation_trail(vault_, "rotate_dek") if d.get("phase") == "start"]
    assert starts == [
        {"phase": "start", "to": 2, "resumed": False, "pending": 3},
        {"phase": "start", "to": 2, "resumed": True, "pending": 1},
    ]
    for rotate in (lambda: vault_.rotate_dek(ADMIN, "t0", batch=0), lambda: vault_.rotate_kek(ADMIN, batch=0)):
        with pytest.raises(ValueError) as err:
            rotate()
        assert str(err.value) == "batch must be at least 1"


def test_a_failed_dek_rotation_is_audited_as_the_callers_error(vault_):
    with pytest.raises(VaultError):
        vault_.rotate_dek(ADMIN, "nobody")
    assert _rotation_trail(vault_, "rotate_dek") == [
        (
            "ada",
            "nobody",
            "error",
            {"error": "VaultError", "message": "no tenant 'nobody' in this vault (nothing stored for it yet)"},
        ),
    ]


def test_a_database_failure_mid_rotation_is_a_vault_error_naming_the_progress(vault_, db_url):
    """The database goes away between two batches: the caller gets a VaultError that says how far it got and
    to rerun; the audit log names who and what; the rerun completes."""
    ids = _fill(vault_, tenants=1, per_tenant=3)

    def lose_the_table(done, total):
        with raw(db_url).begin() as conn:
            conn.execute(sa.text("alter table credentials rename to credentials_away"))

    try:
        with pytest.raises(VaultError) as err:
            vault_.rotate_dek(ADMIN, "t0", progress=lose_the_table, batch=2)
    finally:
        with raw(db_url).begin() as conn:
            conn.execute(sa.text("alter table credentials_away rename to credentials"))
    assert str(err.value).startswith("DEK rotation interrupted after 2 rows (")
    assert str(err.value).endswith("); rerun it")
    actor, target, outcome, detail = _rotation_trail(vault_, "rotate_dek")[-1]
    cause = type(err.value.__cause__).__name__
    assert (actor, target, outcome, detail["error"]) == ("ada", "t0@v2", "error", cause)
    assert vault_.rotate_dek(ADMIN, "t0").complete
    _assert_all_open(vault_, ids)


class SwitchableSource:
    """A key source an operator edits while the vault runs (a secret version disabled, a key file rewritten)."""

    def __init__(self, *keys: bytes) -> None:
        self.name = "switchable"
        self.switch(*keys)

    def switch(self, *keys: bytes) -> None:
        self.inner = StaticKeySource(*keys) if keys else None

    def load(self):
        if self.inner is None:
            raise KeyUnavailable("the key source offers no key now")
        return self.inner.load()


def test_rotate_kek_reports_records_and_audits_each_phase(vault_, db_url, clock):
    _fill(vault_, tenants=3, per_tenant=1)
    vault_.close()
    v = Vault.open(db_url, StaticKeySource(K2, K1), clock)
    start = clock.now()
    seen, checkpoints = [], []

    def progress(done, total):
        seen.append((done, total))
        with raw(db_url).connect() as conn:
            checkpoints.append(
                conn.execute(sa.text("select value from vault_meta where key = 'kek_rotation'")).scalar_one()
            )
        clock.advance(timedelta(minutes=1))

    report = v.rotate_kek(ADMIN, progress=progress, batch=2)
    fp1, fp2 = kek_fingerprint(K1), kek_fingerprint(K2)
    assert report == vault.store.RotationReport("kek", fp2, 4, 4, 0, (), start, start + timedelta(minutes=3))
    assert seen == [(1, 4), (3, 4), (4, 4)]
    assert _json(checkpoints[0]) == {"to": fp2, "started_at": start.isoformat(), "total": 4}
    assert _rotation_trail(v, "rotate_kek") == [
        ("ada", fp2, "ok", {"phase": "start", "pending": 4}),
        ("ada", fp2, "ok", {"phase": "audit_key", "from": fp1}),
        ("ada", fp2, "ok", {"phase": "batch", "rewrapped": 2, "from": [fp1]}),
        ("ada", fp2, "ok", {"phase": "batch", "rewrapped": 1, "from": [fp1]}),
        ("ada", fp2, "ok", {"phase": "done", "rewrapped": 4, "remaining": 0}),
    ]
    assert _row_seqs(db_url, "data_keys", "1 = 1") == _batch_seqs(v, "rotate_kek")
    assert v.verify_audit(ADMIN).ok
    v.close()


def test_rotate_kek_without_the_old_key_names_the_key_to_put_back(vault_, db_url, clock):
    """The operator drops the old KEK from the key source too early: the rotation stops with a KeyUnavailable
    that names the key still needed and what it wraps; with the key back, a rerun completes."""
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    vault_.close()
    fp1 = kek_fingerprint(K1)
    source = SwitchableSource(K2, K1)
    with Vault.open(db_url, source, clock) as v:
        source.switch(K3, K2)
        with pytest.raises(KeyUnavailable) as err:
            v.rotate_kek(ADMIN)
        assert str(err.value) == (
            f"the audit key is wrapped under {fp1}, which key source switchable does not offer: put that key "
            "back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS) and rerun"
        )
        source.switch(K2, K1)

        def stop(done, total):
            raise Crash

        with pytest.raises(Crash):
            v.rotate_kek(ADMIN, progress=stop)  # the audit key moves to K2; acme's DEK stays under K1
        source.switch(K3, K2)
        with pytest.raises(KeyUnavailable) as err:
            v.rotate_kek(ADMIN)
        assert str(err.value) == (
            f"tenant 'acme''s data key v1 is wrapped under {fp1}, which key source switchable does not offer: put "
            "that key back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS) and rerun"
        )
        assert _rotation_trail(v, "rotate_kek")[-1] == (
            "ada",
            kek_fingerprint(K3),
            "error",
            {"error": "KeyUnavailable", "message": str(err.value)},
        )
        source.switch(K3, K2, K1)
        assert v.rotate_kek(ADMIN).complete
        assert v.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN


def test_a_key_source_failing_at_rotation_is_audited_as_the_rotations_error(vault_, db_url, clock):
    vault_.close()
    source = SwitchableSource(K1)
    with Vault.open(db_url, source, clock) as v:
        source.switch()
        with pytest.raises(KeyUnavailable):
            v.rotate_kek(ADMIN)
        source.switch(K1)
        assert _rotation_trail(v, "rotate_kek") == [
            ("ada", None, "error", {"error": "KeyUnavailable", "message": "the key source offers no key now"}),
        ]


def test_a_vault_that_caches_no_key_does_everything(db_url, clock):
    """``dek_cache_ttl=0``: every operation loads the key source and unwraps what it needs afresh (a
    deployment that wants no key material kept between calls). Every path must then get the key ring it
    was handed, not lean on a cache."""
    with Vault.init(db_url, StaticKeySource(K1), clock, dek_cache_ttl=0) as v:
        ids = _fill(v, tenants=2, per_tenant=2)
        gone = v.put(ADMIN, "t0", "google", "gone", "tok-gone")
        v.revoke(ADMIN, "t0", gone)
        _assert_all_open(v, ids)
        assert len(v.list(ADMIN)) == 5 and v.stats(ADMIN).credentials == 5
        assert v.rotate_dek(ADMIN, "t0", batch=1).complete
    with Vault.open(db_url, StaticKeySource(K2, K1), clock, dek_cache_ttl=0) as v:
        assert v.rotate_kek(ADMIN, batch=1).complete
        v.remove_kek(ADMIN, kek_fingerprint(K1))
        _assert_all_open(v, ids)
        assert v.verify_audit(ADMIN).ok


# ------------------------------------------------------------------------------- messages and metadata


@pytest.mark.parametrize(
    "names, message",
    [
        (("", "google", "a"), "tenant must be a non-empty string"),
        (("acme", " ", "a"), "provider must be a non-empty string"),
        (("acme", "google", "\t"), "account must be a non-empty string"),
        (("acme", "google", None), "account must be a non-empty string"),
    ],
    ids=["tenant", "provider", "account", "account-none"],
)
def test_put_refuses_a_blank_name_and_says_which(vault_, names, message):
    with pytest.raises(VaultError) as err:
        vault_.put(ADMIN, *names, TOKEN)
    assert str(err.value) == message
    assert vault_.list(ADMIN) == []


def test_remove_kek_says_what_still_needs_the_key(vault_, db_url, clock):
    """Each refusal names the key and what to do; the removal itself is audited with what stays known."""
    vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    vault_.put(ADMIN, "globex", "google", "a", TOKEN)
    vault_.close()
    fp1, fp2, fp3 = kek_fingerprint(K1), kek_fingerprint(K2), kek_fingerprint(K3)
    with Vault.open(db_url, StaticKeySource(K2, K1), clock) as v:
        refusals = []
        for fp in (fp3, fp2, fp1):
            with pytest.raises(VaultError) as err:
                v.remove_kek(ADMIN, fp)
            refusals.append(str(err.value))

        def after_the_audit_key(done, total):
            raise Crash

        with pytest.raises(Crash):
            v.rotate_kek(ADMIN, progress=after_the_audit_key)
        with pytest.raises(VaultError) as err:
            v.remove_kek(ADMIN, fp1)
        refusals.append(str(err.value))
        assert refusals == [
            f"{fp3} is not a KEK this vault knows (known: {fp1}, {fp2})",
            f"{fp2} is the primary KEK: make another key primary and rotate_kek first",
            f"{fp1} still wraps 2 data key(s) and the audit key: run rotate_kek (`readiness vault rotate-key`) first",
            f"{fp1} still wraps 2 data key(s): run rotate_kek (`readiness vault rotate-key`) first",
        ]
        v.rotate_kek(ADMIN)
        v.remove_kek(ADMIN, fp1)
        removed = [e for e in v.audit_events(ADMIN, limit=50) if e.op == "remove_kek" and e.outcome == "ok"]
        assert [(e.target, e.detail) for e in removed] == [(fp1, {"kek": fp1, "known": [fp2]})]


def test_reprs_name_the_database_and_key_source_but_no_secret(db_url, clock):
    assert repr(vault.store.SystemClock()) == "SystemClock()"
    now = vault.store.SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    with Vault.init(db_url, StaticKeySource(K1, name="ops-keys"), clock) as v:
        assert repr(v) == f"Vault({sa.make_url(db_url).render_as_string(hide_password=True)!r}, 'ops-keys')"


def test_the_database_url_comes_from_the_environment_when_not_given(tmp_path, monkeypatch, clock):
    """TOKEN_VAULT_DB_URL first, then READINESS_DB_URL; a SQLite file's missing folders are made."""
    first, second = tmp_path / "a" / "b" / "vault.db", tmp_path / "c" / "readiness.db"
    monkeypatch.setenv("TOKEN_VAULT_DB_URL", f"sqlite:///{first}")
    monkeypatch.setenv("READINESS_DB_URL", f"sqlite:///{second}")
    with Vault.init(None, StaticKeySource(K1), clock) as v:
        assert v.engine.url.database == str(first)
    monkeypatch.delenv("TOKEN_VAULT_DB_URL")
    with Vault.init(None, StaticKeySource(K1), clock) as v:
        assert v.engine.url.database == str(second)
    assert first.is_file() and second.is_file()


def test_stats_windows_scopes_and_rotations(vault_, clock):
    now = clock.now()
    vault_.put(ADMIN, "acme", "google", "expired-now", TOKEN, expires_at=now)
    vault_.put(ADMIN, "acme", "google", "edge-of-window", TOKEN, expires_at=now + timedelta(hours=2))
    vault_.put(ADMIN, "acme", "google", "past-window", TOKEN, expires_at=now + timedelta(hours=2, seconds=1))
    vault_.put(ADMIN, "acme", "ghl", "no-expiry", TOKEN)
    vault_.put(ADMIN, "globex", "google", "elsewhere", TOKEN, expires_at=now + timedelta(minutes=1))
    stats = vault_.stats(Actor("acme-board", Role.VIEWER, frozenset({"acme"})), expiring_within=timedelta(hours=2))
    assert (stats.at, stats.tenants, stats.credentials, stats.expired, stats.expiring_soon) == (now, 1, 4, 1, 1)
    assert stats.by_provider == {"google": 3, "ghl": 1}
    assert stats.by_provider_state == {"google": {"active": 3}, "ghl": {"active": 1}}
    assert (stats.refresh_failing, vault_.stats(ADMIN).refresh_failing) == (0, 0)
    assert (vault_.stats(ADMIN).tenants, vault_.stats(ADMIN, "globex").tenants) == (2, 1)
    assert vault_.stats(ADMIN, expiring_within=timedelta(hours=2)).expiring_soon == 2

    def stop(done, total):
        raise Crash

    with pytest.raises(Crash):
        vault_.rotate_dek(ADMIN, "acme", progress=stop, batch=1)
    with pytest.raises(Crash):
        vault_.rotate_dek(ADMIN, "globex", progress=stop, batch=1)
    assert vault_.stats(ADMIN).rotations_in_progress == ("dek:acme", "dek:globex")


def test_audit_events_pages_back_by_seq_and_filters_by_tenant(vault_):
    for account in ("a", "b", "c"):
        vault_.put(ADMIN, "acme", "google", account, TOKEN)
    vault_.put(ADMIN, "globex", "google", "d", TOKEN)
    newest = vault_.audit_events(ADMIN, 2)
    assert [e.seq for e in newest] == [5, 4]
    assert [e.seq for e in vault_.audit_events(ADMIN, 2, before_seq=4)] == [3, 2]
    assert [(e.seq, e.tenant) for e in vault_.audit_events(ADMIN, 10, tenant="acme", before_seq=4)] == [
        (3, "acme"),
        (2, "acme"),
    ]


def test_on_postgresql_the_meta_entries_an_operation_rewrites_are_read_locked(pg_url, clock):
    """The locking protocol (``Vault`` docstring: on PostgreSQL lock what you rewrite): a rotation's checkpoint,
    the audit key a KEK rotation rewraps and the KEK list remove_kek edits are read FOR UPDATE, so two
    operators running the same command at once queue instead of both acting on what they read."""
    with Vault.init(pg_url, StaticKeySource(K1), clock) as v:
        v.put(ADMIN, "t0", "google", "a", TOKEN)
    locked: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        if "FROM vault_meta" in statement and statement.rstrip().endswith("FOR UPDATE"):
            locked.extend(value for value in (params or {}).values() if isinstance(value, str))

    with Vault.open(pg_url, StaticKeySource(K2, K1), clock) as v:
        sa.event.listen(v.engine, "before_cursor_execute", record)
        seen = {}
        for name, op in (
            ("rotate_dek", lambda: v.rotate_dek(ADMIN, "t0")),
            ("rotate_kek", lambda: v.rotate_kek(ADMIN)),
            ("remove_kek", lambda: v.remove_kek(ADMIN, kek_fingerprint(K1))),
        ):
            locked.clear()
            op()
            seen[name] = sorted(set(locked))
    assert seen == {"rotate_dek": ["dek_rotation:t0"], "rotate_kek": ["audit_key"], "remove_kek": ["known_keks"]}


def test_rotating_a_tenant_whose_credentials_are_all_revoked_retires_its_old_dek(vault_):
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    vault_.revoke(ADMIN, "acme", cid)
    report = vault_.rotate_dek(ADMIN, "acme")
    assert (report.target, report.total, report.rewritten, report.remaining, report.retired) == (
        "acme@v2",
        0,
        0,
        0,
        ("acme@v1",),
    )
    assert vault_.put(ADMIN, "acme", "google", "a", "fresh") == cid
    assert vault_.get(ADMIN, "acme", cid).access_token.reveal() == "fresh"


def test_revoke_is_bound_to_the_tenant_named_and_clears_the_row_once(vault_, db_url):
    """A scoped actor cannot revoke another tenant's credential by naming its own tenant; a revoke clears every
    refresh field and bumps the version once; revoking again changes nothing."""
    theirs = vault_.put(ADMIN, "globex", "google", "b", TOKEN)
    with pytest.raises(VaultError) as err:
        vault_.revoke(SERVICE, "acme", theirs)
    assert str(err.value) == f"no credential {theirs!r} in tenant 'acme'"
    assert [(e.target, e.outcome) for e in vault_.audit_events(ADMIN, 1)] == [(theirs, "error")]
    assert vault_.list(ADMIN, "globex")[0].state == "active"
    mine = vault_.put(ADMIN, "acme", "google", "a", TOKEN, REFRESH, expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    with raw(db_url).begin() as conn:  # a refresher holds its lease
        conn.execute(
            sa.text("update credentials set lease_owner='w1', lease_until=:t where id=:id"),
            {"t": datetime(2030, 1, 1), "id": mine},
        )
    columns = "state, version, refresh_due_at, lease_owner, lease_until, next_attempt_at"
    for _ in range(2):
        vault_.revoke(SERVICE, "acme", mine)
        with raw(db_url).connect() as conn:
            assert tuple(
                conn.execute(sa.text(f"select {columns} from credentials where id=:id"), {"id": mine}).one()
            ) == ("revoked", 2, None, None, None, None)


def test_put_again_clears_the_refresh_trouble_and_the_lease_and_bumps_the_version_once(vault_, db_url, clock):
    """Storing new tokens over a credential the refresher struggled with (failures counted, an error recorded,
    a backoff and a lease held) makes it a healthy credential again: every refresh field cleared, ``created_at``
    kept, ``updated_at`` and the row ``version`` moved on by exactly one write."""
    created = clock.now()
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN, REFRESH)
    with raw(db_url).begin() as conn:  # what a refresher leaves behind after failing (columns no MAC covers)
        conn.execute(
            sa.text(
                "update credentials set failures=3, last_refresh_error='invalid_grant', next_attempt_at=:t, "
                "lease_owner='w1', lease_until=:t where id=:id"
            ),
            {"t": datetime(2030, 1, 1), "id": cid},
        )
    clock.advance(timedelta(minutes=5))
    assert vault_.put(ADMIN, "acme", "google", "a", "new-access") == cid
    columns = "version, failures, last_refresh_error, next_attempt_at, lease_owner, lease_until"
    with raw(db_url).connect() as conn:
        assert tuple(conn.execute(sa.text(f"select {columns} from credentials where id=:id"), {"id": cid}).one()) == (
            2,
            0,
            None,
            None,
            None,
            None,
        )
    info = vault_.list(ADMIN, "acme")[0]
    assert (info.state, info.failures, info.last_refresh_error, info.next_attempt_at) == ("active", 0, None, None)
    assert (info.created_at, info.updated_at) == (created, clock.now())


@pytest.mark.parametrize("op", ["put", "revoke"])
def test_a_write_that_loses_every_race_is_tried_three_times_then_refused(vault_, op):
    """A writer that moves the row's version between a put's (or revoke's) read and its compare-and-set (here:
    before every UPDATE of the row) makes it start again, twice; the third loss is a VaultError saying so,
    audited as that operation's error, and the stored credential is untouched."""
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN, REFRESH)
    attempts = []

    def rival(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE CREDENTIALS SET") and "version" in statement:
            attempts.append(1)
            cursor.execute("UPDATE credentials SET version = version + 1")

    sa.event.listen(vault_.engine, "before_cursor_execute", rival)
    try:
        with pytest.raises(VaultError) as err:
            if op == "put":
                vault_.put(ADMIN, "acme", "google", "a", "new-access")
            else:
                vault_.revoke(ADMIN, "acme", cid)
    finally:
        sa.event.remove(vault_.engine, "before_cursor_execute", rival)
    assert str(err.value) == f"{op} lost a race 3 times; retry it"
    assert len(attempts) == 3
    assert [(e.op, e.outcome, e.detail["error"]) for e in vault_.audit_events(ADMIN, 1)] == [(op, "error", "_Retry")]
    assert vault_.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN


def test_on_postgresql_a_pooled_connection_the_server_dropped_is_replaced_not_an_error(pg_url, clock):
    """A database restart or an idle timeout kills the connections the vault keeps pooled; the next operation
    must get a live connection, not fail on the dead one."""
    with Vault.init(pg_url, StaticKeySource(K1), clock) as v:
        cid = v.put(ADMIN, "acme", "google", "a", TOKEN)
        with v.engine.connect() as conn:
            pid = conn.execute(sa.text("select pg_backend_pid()")).scalar_one()
        with raw(pg_url).connect() as admin:
            assert admin.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        assert v.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN


def test_on_postgresql_a_refused_statement_never_shows_its_parameters(pg_url, clock):
    """The database's refusal is kept as the VaultError's cause (for a traceback in a log): it names the
    statement but not the values, which hold ciphertexts, token fingerprints and account names."""
    account = "ops-" + "x" * 40 + "@acme.test"
    credential_id = "c" * 100  # longer than the id column: PostgreSQL refuses the insert (names are checked first)
    with Vault.init(pg_url, StaticKeySource(K1), clock) as v, pytest.raises(VaultError, match="refused it") as err:
        v.put(ADMIN, "acme", "google", account, TOKEN, credential_id=credential_id)
    cause = str(err.value.__cause__)
    assert "INSERT INTO credentials" in cause and "parameters hidden" in cause
    assert account not in cause and credential_id not in cause and "hmac:" not in cause


def test_a_sqlite_uri_filename_is_opened_as_is_and_makes_no_folder(tmp_path, monkeypatch, clock):
    """``sqlite:///file:…?uri=true`` names the file in SQLite's URI form: the vault opens it there and creates
    no folder named after the URI (``file:`` is not a directory)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with Vault.init(f"sqlite:///file:{tmp_path / 'data' / 'vault.db'}?uri=true", StaticKeySource(K1), clock) as v:
        cid = v.put(ADMIN, "acme", "google", "a", TOKEN)
        assert v.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert (tmp_path / "data" / "vault.db").is_file()


def test_an_older_known_key_made_primary_again_is_recorded_as_kek_primary(vault_, db_url, clock):
    """Back to K1 after K2 was added: K1 is known, so it is not ``kek_added``; the switch is audited as
    ``kek_primary`` and the vault's primary follows the key source."""
    vault_.close()
    with Vault.open(db_url, StaticKeySource(K2, K1), clock):
        pass
    with Vault.open(db_url, StaticKeySource(K1, K2), clock) as v:
        assert v.stats(ADMIN).primary_kek == kek_fingerprint(K1)
        switches = [(e.op, e.target, e.detail["known"]) for e in v.audit_events(ADMIN, 50) if e.op.startswith("kek_")]
    fp1, fp2 = kek_fingerprint(K1), kek_fingerprint(K2)
    assert switches == [("kek_primary", fp1, [fp1, fp2]), ("kek_added", fp2, [fp1, fp2])]


def test_a_failure_that_cannot_be_audited_is_logged_as_such(db_url, clock, caplog):
    """The key source goes away after the key ring's TTL: the get fails, and so does its ``error`` entry (it
    needs the keys too); the operator is told in the log which operation went unaudited and why."""
    source = SwitchableSource(K1)
    with Vault.init(db_url, source, clock, dek_cache_ttl=60) as v:
        cid = v.put(ADMIN, "acme", "google", "a", TOKEN)
        source.switch()
        clock.advance(timedelta(seconds=61))
        with caplog.at_level("WARNING", logger="vault"), pytest.raises(KeyUnavailable):
            v.get(ADMIN, "acme", cid)
    assert [r.getMessage() for r in caplog.records if r.name == "vault"] == [
        "could not audit a failed get by ada (KeyUnavailable)"
    ]


def test_a_data_key_marked_retired_is_not_used_even_with_its_wrapped_bytes_left(vault_, db_url):
    """A data key row whose state says it is no longer usable is refused for what it says, before its MAC is
    looked at: the error names the tenant and version."""
    cid = vault_.put(ADMIN, "acme", "google", "a", TOKEN)
    with raw(db_url).begin() as conn:
        conn.execute(sa.text("update data_keys set state='retired' where tenant='acme'"))
    with pytest.raises(VaultError) as err:
        vault_.get(ADMIN, "acme", cid)
    assert type(err.value) is VaultError and str(err.value) == "tenant 'acme' has no usable data key version 1"
