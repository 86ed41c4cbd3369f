"""Edges of the vault's key rotation and audited operations a reviewer reads after the fact: a rotation across
providers, the tenant every rotation entry carries, a scoped admin's reach, what a refusal names, a database
failure's audit entry, and which audit entry each rewritten row is bound to. On SQLite and PostgreSQL, through
``db_url``; the database is edited only as an operator (or an outage) would."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from vault import AccessDenied, Actor, Role, StaticKeySource, Vault, VaultError
from vault.crypto import kek_fingerprint

K1 = bytes(range(32))  # the KEK of the ``vault_`` fixture
K2 = bytes(range(100, 132))
ADMIN = Actor("ada", Role.ADMIN)


def _entries(v: Vault, op: str) -> list:
    return sorted((e for e in v.audit_events(ADMIN, limit=1000) if e.op == op), key=lambda e: e.seq)


def test_a_dek_rotation_in_small_batches_reseals_every_provider(vault_, raw):
    """Keyset pages over (provider, account): accounts sorted one way and providers another must all be
    resealed, none left on the old key, and the old key retired."""
    for provider, account in (("zoom", "a"), ("google", "b"), ("microsoft", "c"), ("google", "d")):
        vault_.put(ADMIN, "acme", provider, account, f"tok-{account}")
    report = vault_.rotate_dek(ADMIN, "acme", batch=1)
    assert (report.total, report.rewritten, report.remaining, report.retired) == (4, 4, 0, ("acme@v1",))
    with raw.connect() as conn:
        versions = conn.execute(sa.text("select dek_version from credentials where tenant = 'acme'")).scalars()
        assert sorted(versions) == [2, 2, 2, 2]
        old = conn.execute(sa.text("select state, wrapped, retired_at from data_keys where version = 1")).one()
    assert (old.state, bytes(old.wrapped)) == ("retired", b"") and old.retired_at is not None  # when, for a review


def test_every_dek_rotation_entry_names_its_tenant(vault_):
    """A tenant's audit trail (``audit_events(tenant=…)``) shows every phase of its rotation, batches too."""
    for account in ("a", "b", "c"):
        vault_.put(ADMIN, "acme", "google", account, f"tok-{account}")
    vault_.rotate_dek(ADMIN, "acme", batch=2)
    phases = [e.detail["phase"] for e in _entries(vault_, "rotate_dek")]
    assert phases == ["start", "batch", "batch", "done"]
    mine = [e for e in vault_.audit_events(ADMIN, limit=1000, tenant="acme") if e.op == "rotate_dek"]
    assert sorted(e.detail["phase"] for e in mine) == sorted(phases)


def test_an_admin_scoped_to_one_tenant_may_not_rotate_another_tenants_key(vault_):
    vault_.put(ADMIN, "acme", "google", "a", "tok-a")
    vault_.put(ADMIN, "globex", "google", "a", "tok-b")
    scoped = Actor("acme-admin", Role.ADMIN, frozenset({"acme"}))
    with pytest.raises(AccessDenied):
        vault_.rotate_dek(scoped, "globex")
    assert vault_.rotate_dek(scoped, "acme").complete
    denied = [e for e in _entries(vault_, "rotate_dek") if e.outcome == "denied"]
    assert [(e.actor, e.tenant) for e in denied] == [("acme-admin", "globex")]


def test_a_dek_rotation_of_a_tenant_named_with_at_v_retires_its_old_key(vault_):
    """The retired key's name is ``tenant@vN``; a tenant whose own name holds ``@v`` still rotates cleanly."""
    vault_.put(ADMIN, "team@vx", "google", "a", "tok-a")
    report = vault_.rotate_dek(ADMIN, "team@vx")
    assert (report.complete, report.retired) == (True, ("team@vx@v1",))
    assert [e.outcome for e in _entries(vault_, "rotate_dek")] == ["ok", "ok", "ok"]


def test_remove_kek_names_only_the_audit_key_when_no_data_key_needs_it(db_url, clock):
    """A vault with nothing stored yet: after a key change only the audit key is under the old KEK, and the
    refusal says so (not "0 data key(s)")."""
    Vault.init(db_url, StaticKeySource(K1), clock).close()
    fp1 = kek_fingerprint(K1)
    with Vault.open(db_url, StaticKeySource(K2, K1), clock) as v:
        with pytest.raises(VaultError) as err:
            v.remove_kek(ADMIN, fp1)
        assert str(err.value) == f"{fp1} still wraps the audit key: run rotate_kek (`readiness vault rotate-key`) first"


def test_a_database_failure_mid_kek_rotation_is_a_vault_error_and_audited(db_url, clock, raw):
    """The data keys' table goes away after the audit key was rewrapped: the caller gets a VaultError naming
    the progress, the audit log an error entry naming the target KEK; the rerun completes."""
    v0 = Vault.init(db_url, StaticKeySource(K1), clock)
    v0.put(ADMIN, "acme", "google", "a", "tok-a")
    v0.close()
    fp2 = kek_fingerprint(K2)

    def lose_the_table(done, total):
        with raw.begin() as conn:
            conn.execute(sa.text("alter table data_keys rename to data_keys_away"))

    with Vault.open(db_url, StaticKeySource(K2, K1), clock) as v:
        try:
            with pytest.raises(VaultError) as err:
                v.rotate_kek(ADMIN, progress=lose_the_table)
        finally:
            with raw.begin() as conn:
                conn.execute(sa.text("alter table data_keys_away rename to data_keys"))
        assert str(err.value).startswith("KEK rotation interrupted after 1 rows (")
        last = _entries(v, "rotate_kek")[-1]
        assert (last.target, last.outcome, last.detail["error"]) == (fp2, "error", type(err.value.__cause__).__name__)
        assert v.rotate_kek(ADMIN).complete


def test_a_database_failure_mid_dek_rotation_is_audited_with_its_tenant(vault_, raw):
    """The credentials' table goes away after the first batch: a VaultError naming the progress, an error entry
    in the tenant's trail (``audit_events(tenant=…)``) naming the target version; the rerun completes."""
    for account in ("a", "b"):
        vault_.put(ADMIN, "acme", "google", account, f"tok-{account}")

    def lose_the_table(done, total):
        with raw.begin() as conn:
            conn.execute(sa.text("alter table credentials rename to credentials_away"))

    try:
        with pytest.raises(VaultError) as err:
            vault_.rotate_dek(ADMIN, "acme", progress=lose_the_table, batch=1)
    finally:
        with raw.begin() as conn:
            conn.execute(sa.text("alter table credentials_away rename to credentials"))
    assert str(err.value).startswith("DEK rotation interrupted after 1 rows (")
    last = _entries(vault_, "rotate_dek")[-1]
    assert (last.tenant, last.target, last.outcome) == ("acme", "acme@v2", "error")
    assert vault_.rotate_dek(ADMIN, "acme").complete


def test_a_kek_rotation_in_batches_of_one_rewraps_every_data_key_whatever_order_the_table_keeps(db_url, clock, raw):
    """Keyset pages over the data keys' id: the first key rewritten in place (PostgreSQL then stores it after
    the others) is rewrapped too, none left under the old KEK."""
    v0 = Vault.init(db_url, StaticKeySource(K1), clock)
    for tenant in ("t1", "t2", "t3"):
        v0.put(ADMIN, tenant, "google", "a", f"tok-{tenant}")
    v0.close()
    with raw.begin() as conn:
        conn.execute(sa.text("update data_keys set state = state where id = (select min(id) from data_keys)"))
    with Vault.open(db_url, StaticKeySource(K2, K1), clock) as v:
        report = v.rotate_kek(ADMIN, batch=1)
    assert (report.total, report.rewritten, report.remaining) == (4, 4, 0)  # three data keys and the audit key


def test_a_denied_key_removal_is_audited_naming_the_key(vault_):
    fp = kek_fingerprint(K1)
    with pytest.raises(AccessDenied):
        vault_.remove_kek(Actor("vic", Role.VIEWER), fp)
    denied = _entries(vault_, "remove_kek")[-1]
    assert (denied.actor, denied.outcome, denied.target) == ("vic", "denied", fp)


def test_a_failed_operation_is_audited_with_its_tenant_and_target(vault_, raw):
    """The credentials' table is gone (an outage, a botched migration): a read fails as a VaultError, and its
    error entry names the tenant and the credential asked for."""
    cid = vault_.put(ADMIN, "acme", "google", "a", "tok-a")
    with raw.begin() as conn:
        conn.execute(sa.text("alter table credentials rename to credentials_away"))
    try:
        with pytest.raises(VaultError, match="the vault database refused it"):
            vault_.get(ADMIN, "acme", cid)
    finally:
        with raw.begin() as conn:
            conn.execute(sa.text("alter table credentials_away rename to credentials"))
    last = _entries(vault_, "get")[-1]
    assert (last.tenant, last.target, last.outcome) == ("acme", cid, "error")


_REFUSE = {
    "sqlite": ["create trigger refuse before update on credentials begin select raise(abort, 'refused'); end"],
    "postgresql": [
        "create function refuse() returns trigger language plpgsql as $$ begin "
        "raise exception 'refused' using errcode = 'check_violation'; end $$",
        "create trigger refuse before update on credentials for each row execute function refuse()",
    ],
}
_ALLOW = {
    "sqlite": ["drop trigger refuse"],
    "postgresql": ["drop trigger refuse on credentials", "drop function refuse()"],
}


def test_a_write_the_database_keeps_refusing_is_audited_with_its_tenant_and_target(vault_, raw):
    """A constraint (here a trigger) refuses every update: the revoke is retried, then fails as a VaultError,
    and its error entry names the tenant and the credential."""
    cid = vault_.put(ADMIN, "acme", "google", "a", "tok-a")
    with raw.begin() as conn:
        for statement in _REFUSE[raw.dialect.name]:
            conn.execute(sa.text(statement))
    try:
        with pytest.raises(VaultError, match=r"the vault database refused it \(IntegrityError\)"):
            vault_.revoke(ADMIN, "acme", cid)
    finally:
        with raw.begin() as conn:
            for statement in _ALLOW[raw.dialect.name]:
                conn.execute(sa.text(statement))
    last = _entries(vault_, "revoke")[-1]
    assert (last.tenant, last.target, last.outcome, last.detail["error"]) == ("acme", cid, "error", "IntegrityError")


_REFUSE_AUDIT = {
    "sqlite": ["create trigger refuse_audit before insert on audit_events begin select raise(abort, 'refused'); end"],
    "postgresql": [
        "create function refuse_audit() returns trigger language plpgsql as $$ begin "
        "raise exception 'refused' using errcode = 'check_violation'; end $$",
        "create trigger refuse_audit before insert on audit_events for each row execute function refuse_audit()",
    ],
}
_ALLOW_AUDIT = {
    "sqlite": ["drop trigger refuse_audit"],
    "postgresql": ["drop trigger refuse_audit on audit_events", "drop function refuse_audit()"],
}


def test_an_operation_whose_audit_entry_is_refused_is_not_performed_and_says_why(vault_, raw):
    """The database refuses the audit entry (here a trigger): the revoke does not happen, and the caller is told
    that and why, naming the database's error, whose text shows the statement but none of the values it was given."""
    cid = vault_.put(ADMIN, "acme", "google", "a", "tok-a")
    with raw.begin() as conn:
        for statement in _REFUSE_AUDIT[raw.dialect.name]:
            conn.execute(sa.text(statement))
    try:
        with pytest.raises(VaultError) as err:
            vault_.revoke(ADMIN, "acme", cid)
    finally:
        with raw.begin() as conn:
            for statement in _ALLOW_AUDIT[raw.dialect.name]:
                conn.execute(sa.text(statement))
    assert str(err.value).startswith("revoke was not performed: its audit entry could not be written (IntegrityError)")
    database_error = err.value.__cause__.__cause__  # what a traceback or an error reporter shows
    assert "refused" in str(database_error) and cid not in str(database_error)  # the statement's values hidden
    assert vault_.get(ADMIN, "acme", cid).access_token.reveal() == "tok-a"


def test_each_written_row_is_bound_to_the_audit_entry_that_wrote_it(vault_, raw):
    """``audit_seq`` of a new data key and of a revoked credential is the seq of the entry of the operation
    that wrote it (what ``verify_audit`` compares with the log's last entry to catch a cut log)."""
    cid = vault_.put(ADMIN, "acme", "google", "a", "tok-a")
    put = _entries(vault_, "put")[-1]
    vault_.revoke(ADMIN, "acme", cid)
    revoke = _entries(vault_, "revoke")[-1]
    with raw.connect() as conn:
        key_seq = conn.execute(sa.text("select audit_seq from data_keys where tenant = 'acme'")).scalar_one()
        row_seq = conn.execute(sa.text("select audit_seq from credentials where id = :id"), {"id": cid}).scalar_one()
    assert (key_seq, row_seq) == (put.seq, revoke.seq)


def _token_sets_in(tb) -> list:
    """The TokenSets a traceback keeps alive in its frames' locals (what an error reporter that records
    locals would read)."""
    found = []
    while tb is not None:
        found += [value for value in tb.tb_frame.f_locals.values() if type(value).__name__ == "TokenSet"]
        tb = tb.tb_next
    return found


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # PostgreSQL only: see the docstring
def test_a_read_whose_commit_fails_leaves_no_readable_token_behind(vault_, raw):
    """The database refuses the commit of a read (a deferred check, after the tokens were opened): the caller
    gets a VaultError and no token, and the tokens opened on the way, still reachable from that error's
    traceback, are wiped. PostgreSQL only: SQLite checks nothing at commit but deferred foreign keys, which
    fail as an IntegrityError (the retry path, tested apart)."""
    assert raw.dialect.name == "postgresql"
    cid = vault_.put(ADMIN, "acme", "google", "a", "tok-a")
    with raw.begin() as conn:
        conn.execute(
            sa.text(
                "create function refuse_commit() returns trigger language plpgsql as $$ begin "
                "raise exception 'refused at commit'; end $$"
            )
        )
        conn.execute(
            sa.text(
                "create constraint trigger refuse_commit after insert on audit_events deferrable initially deferred "
                "for each row execute function refuse_commit()"
            )
        )
    try:
        with pytest.raises(VaultError, match="the vault database refused it") as err:
            vault_.get(ADMIN, "acme", cid)
    finally:
        with raw.begin() as conn:
            conn.execute(sa.text("drop trigger refuse_commit on audit_events"))
            conn.execute(sa.text("drop function refuse_commit()"))
    opened = _token_sets_in(err.value.__traceback__)
    assert opened, "the read never got as far as opening the tokens"
    assert all(t.access_token.wiped for t in opened)
    assert "tok-a" not in repr(err.value) and "tok-a" not in str(err.value)
